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

/** How a tensor's values are stored: 32-bit floats, 16-bit floats, or 8-bit blocks. */
export type GgmlType = 'F32' | 'F16' | 'Q8_0';

/** A tensor; `shape` is in ggml order (innermost, contiguous dimension first). */
export interface GgufTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
  /** Storage type; `Q8_0` needs an innermost dimension divisible by 32. @default 'F32' */
  type?: GgmlType;
}

const VALUE_TYPE = { uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9 } as const;
/** `enum ggml_type` in ggml.h. */
const GGML_TYPE_ID: Readonly<Record<GgmlType, number>> = { F32: 0, F16: 1, Q8_0: 8 };
const ALIGNMENT = 32;
/** Weights per Q8_0 block (`QK8_0` in ggml-common.h). */
export const Q8_0_BLOCK = 32;
/** Bytes per Q8_0 block: one f16 scale, then 32 int8 values (`block_q8_0`). */
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of `value`, rounded to nearest even (subnormals, infinities, NaN kept). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa moves into the exponent, which is the correct rounding.
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The value binary16 bits stand for. */
export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Bytes a tensor of `elements` values takes in `type`. */
export function tensorBytes(type: GgmlType, elements: number): number {
  if (type === 'F32') return elements * 4;
  if (type === 'F16') return elements * 2;
  return (elements / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
}

/**
 * Q8_0 blocks of `data`, as ggml's reference quantizer writes them (`quantize_row_q8_0_ref`):
 * per 32 values, scale d = max|x| / 127 stored as f16, and q = round(x / d) as int8.
 */
export function quantizeQ8_0(data: Float32Array): Buffer {
  if (data.length % Q8_0_BLOCK !== 0) {
    throw new Error(`Q8_0 needs a multiple of ${Q8_0_BLOCK} values, got ${data.length}`);
  }
  const out = Buffer.alloc(tensorBytes('Q8_0', data.length));
  for (let block = 0; block * Q8_0_BLOCK < data.length; block++) {
    const start = block * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(data[start + j]!));
    const d = amax / 127;
    const inverse = d ? 1 / d : 0;
    const offset = block * Q8_0_BLOCK_BYTES;
    out.writeUInt16LE(toHalfBits(d), offset);
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      // C's roundf: halves away from zero.
      const x = data[start + j]! * inverse;
      out.writeInt8(Math.sign(x) * Math.round(Math.abs(x)), offset + 2 + j);
    }
  }
  return out;
}

/** The stored bytes of a tensor in its type. */
function tensorData(tensor: GgufTensor): Buffer {
  const data = tensor.data;
  switch (tensor.type ?? 'F32') {
    case 'F32':
      // Float32Array is host-endian; GGUF is little-endian, as is every host node-llama-cpp ships for.
      return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    case 'F16': {
      const out = Buffer.alloc(data.length * 2);
      for (let i = 0; i < data.length; i++) out.writeUInt16LE(toHalfBits(data[i]!), i * 2);
      return out;
    }
    case 'Q8_0':
      return quantizeQ8_0(data);
  }
}

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
    const type = tensor.type ?? 'F32';
    if (type === 'Q8_0' && tensor.shape[0]! % Q8_0_BLOCK !== 0) {
      throw new Error(`tensor ${tensor.name}: Q8_0 rows must be a multiple of ${Q8_0_BLOCK} long`);
    }
    sink.u32(GGML_TYPE_ID[type]);
    sink.u64(offset);
    offset += Math.ceil(tensorBytes(type, elements) / ALIGNMENT) * ALIGNMENT;
  }
  sink.padTo(ALIGNMENT);
  for (const tensor of tensors) {
    sink.raw(tensorData(tensor));
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
