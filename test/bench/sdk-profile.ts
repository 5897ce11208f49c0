import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { Agent, request } from 'node:http';
import { SageMakerInvoker } from '../../edge/invoke/sagemaker.js';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const body = JSON.stringify({ inputs: ['x'] });

/** Client CPU per call of `call` at `concurrency`, for `ms`. */
const measure = async (name: string, call: () => Promise<unknown>, ms = 1500, concurrency = 10) => {
  for (let i = 0; i < 200; i++) await call(); // warm-up: JIT, sockets
  let calls = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() - t0 < ms) {
        await call();
        calls++;
      }
    }),
  );
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    name,
    calls,
    callsPerS: (calls * 1000) / elapsed,
    cpuUsPerCall: (cpu.user + cpu.system) / calls,
  };
};

/**
 * Where the time of one InvokeEndpoint goes: a plain keep-alive HTTP POST, the SDK client with
 * its defaults, and the gateway's invoker.
 */
export const profileSdk = async (url: string, endpoint: string) => {
  const u = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const plain = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          agent,
          host: u.hostname,
          port: u.port,
          method: 'POST',
          path: `/endpoints/${endpoint}/invocations`,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const defaults = new SageMakerRuntimeClient({ endpoint: url, region: 'us-east-1', credentials });
  const bytes = new TextEncoder().encode(body);
  const sdkDefault = () =>
    defaults.send(
      new InvokeEndpointCommand({
        EndpointName: endpoint,
        ContentType: 'application/json',
        Body: bytes,
      }),
    );
  const invoker = new SageMakerInvoker({ endpointUrl: url, credentials });
  const lean = () =>
    invoker.invoke({
      target: { endpoint, variant: undefined },
      body: { inputs: ['x'] },
      signal: new AbortController().signal,
      timeoutMs: 10_000,
      modelId: 'm',
    });
  return [
    await measure('plain keep-alive HTTP POST', plain),
    await measure('SDK client, default settings', sdkDefault),
    await measure('SageMakerInvoker (gateway)', lean),
  ];
};
