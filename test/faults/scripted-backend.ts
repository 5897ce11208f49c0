import type {
  EndpointBackend,
  InvocationInput,
  InvocationOutput,
} from '../../local/endpoint/backend.js';
import { GpuSimulator, type GpuSimulatorOptions } from '../sim/gpu-simulator.js';

/**
 * Runs before the simulator on each call: returns an answer of its own (a body that is not JSON),
 * throws a fault, or returns `undefined` to let the simulator answer.
 */
export type Script = (input: InvocationInput) => InvocationOutput | undefined;

/**
 * The GPU simulator (TGI and TEI answers that are pure functions of each input, faults on demand
 * by `inject` or `!fault:<kind>` markers) with a script in front for the faults it lacks.
 */
export class ScriptedBackend implements EndpointBackend {
  readonly sim: GpuSimulator;
  private readonly scripts: Script[] = [];
  /** Runs on every call after the queued scripts are used up. */
  always: Script | undefined;

  constructor(options: GpuSimulatorOptions = {}) {
    this.sim = new GpuSimulator(options);
  }

  /** Queues a script for the next call. */
  next(script: Script): void {
    this.scripts.push(script);
  }

  async invoke(input: InvocationInput): Promise<InvocationOutput> {
    return this.script(input) ?? this.sim.invoke(input);
  }

  invokeStream(input: InvocationInput): AsyncIterable<Uint8Array> {
    // A fault thrown here, before the first part, is an HTTP error, as SageMaker answers it.
    const own = this.script(input);
    if (own) throw new Error('a scripted stream answer is not supported');
    return this.sim.invokeStream(input);
  }

  private script(input: InvocationInput): InvocationOutput | undefined {
    const script = this.scripts.shift() ?? this.always;
    return script?.(input);
  }
}

const encoder = new TextEncoder();

/** What a load balancer in front of a crashed container might answer. */
export const notJson: Script = () => ({
  body: encoder.encode('<html><body>502 Bad Gateway</body></html>'),
  contentType: 'text/html',
});
