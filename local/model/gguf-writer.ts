import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A minimal GGUF (version 3) writer: enough to write a llama-architecture model that llama.cpp
 * loads. Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md — header, metadata
 * key/values, tensor infos, then tensor data, each tensor aligned to `general.alignment` (32).
 */

/** A typed metadata value; GGUF stores the type next to the value, so it must be explicit. */
export type GgufValue =
  | { type: 'uint32'; value: number }
  | { type: 'int32'; value: number }
  | { type: 'float32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: 'string'; value: readonly string[] }
  | { type: 'array'; itemType: 'float32' | 'int32' | 'uint32'; value: ArrayLike<number> };

/** A tensor; `shape` is in ggml order (innermost, contiguous dimension first). */
export interface GgufTensor {
  name: string;
  shape: readonly number[];
  /** Stored as GGML_TYPE_F32. */
  data: Float32Array;
}

const VALUE_TYPE = { uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9 } as const;
const GGML_TYPE_F32 = 0;
const ALIGNMENT = 32;

/** Appends little-endian primitives to a growing list of buffers. */
class ByteSink {
  readonly parts: Buffer[] = [];
  length = 0;

  private push(buffer: Buffer): void {
    this.parts.push(buffer);
    this.length += buffer.length;
  }
  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.push(b);
  }
  i32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    this.push(b);
  }
  u64(value: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    this.push(b);
  }
  f32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    this.push(b);
  }
  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  raw(bytes: Buffer): void {
    this.push(bytes);
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad > 0) this.push(Buffer.alloc(pad));
  }
}

function writeValue(sink: ByteSink, value: GgufValue): void {
  sink.u32(VALUE_TYPE[value.type]);
  switch (value.type) {
    case 'uint32':
      return sink.u32(value.value);
    case 'int32':
      return sink.i32(value.value);
    case 'float32':
      return sink.f32(value.value);
    case 'bool':
      return sink.raw(Buffer.from([value.value ? 1 : 0]));
    case 'string':
      return sink.string(value.value);
    case 'array': {
      sink.u32(VALUE_TYPE[value.itemType]);
      sink.u64(value.value.length);
      if (value.itemType === 'string') {
        for (const item of value.value) sink.string(item);
      } else {
        const write = { float32: sink.f32, int32: sink.i32, uint32: sink.u32 }[value.itemType];
        for (let i = 0; i < value.value.length; i++) write.call(sink, value.value[i] as number);
      }
      return;
    }
  }
}

/** Serializes a GGUF file into memory. */
export function encodeGguf(
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensor[],
): Buffer {
  const sink = new ByteSink();
  sink.raw(Buffer.from('GGUF', 'ascii'));
  sink.u32(3);
  sink.u64(tensors.length);
  sink.u64(metadata.length);
  for (const [key, value] of metadata) {
    sink.string(key);
    writeValue(sink, value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const tensor of tensors) {
    const elements = tensor.shape.reduce((a, b) => a * b, 1);
    if (elements !== tensor.data.length) {
      throw new Error(
        `tensor ${tensor.name}: shape ${tensor.shape.join('x')} != ${tensor.data.length} values`,
      );
    }
    sink.string(tensor.name);
    sink.u32(tensor.shape.length);
    for (const dim of tensor.shape) sink.u64(dim);
    sink.u32(GGML_TYPE_F32);
    sink.u64(offset);
    offsets.push(offset);
    offset += Math.ceil((elements * 4) / ALIGNMENT) * ALIGNMENT;
  }
  sink.padTo(ALIGNMENT);
  for (const tensor of tensors) {
    const data = tensor.data;
    // Float32Array is host-endian; GGUF is little-endian, as is every host node-llama-cpp ships for.
    sink.raw(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    sink.padTo(ALIGNMENT);
  }
  return Buffer.concat(sink.parts, sink.length);
}

/**
 * Writes a GGUF file atomically (temporary file, then rename), so a concurrent reader or a
 * second process generating the same file never sees half of it.
 */
export async function writeGguf(
  path: string,
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensor[],
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, encodeGguf(metadata, tensors));
  await rename(temporary, path);
}
