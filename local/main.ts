/**
 * `npm start`: the whole Sluice request path on one machine, with no AWS account.
 *
 * Flags: `--no-auth` turns authentication off (local only); `--dev-admin` signs the browser
 * (PKCE) user in as Admin (otherwise a plain consumer); `--quantization q8_0` serves the
 * stand-in with 8-bit block weights instead of f16. Environment: `HOST`, `PORT`
 * (gateway, default 127.0.0.1:8787), `SLUICE_ISSUER_PORT` (local issuer, default 8788),
 * `SLUICE_CONFIG` (catalogue), `SLUICE_LOCAL_GGUF`
 * (a real GGUF model instead of the stand-in), `LOG_LEVEL`.
 */
import { createJsonLogger, type LogLevel } from '../edge/types.js';
import { startLocalStack } from './stack.js';

const argv = process.argv.slice(2);
const args = new Set(argv);
const auth = args.has('--no-auth') ? 'disabled' : 'local-issuer';
const devAdmin = args.has('--dev-admin');
const quantizationAt = argv.findIndex(
  (a) => a === '--quantization' || a.startsWith('--quantization='),
);
const quantization =
  quantizationAt < 0
    ? undefined
    : argv[quantizationAt]!.includes('=')
      ? argv[quantizationAt]!.split('=')[1]
      : argv[quantizationAt + 1];
const logger = createJsonLogger({
  level: (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'warn',
});

const progress = (line: string) => process.stderr.write(`${line}\n`);

progress('Sluice: loading the local model (the first start generates it, a few seconds)…');
const stack = await startLocalStack({
  host: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 8787),
  issuerPort: Number(process.env.SLUICE_ISSUER_PORT ?? 8788),
  auth,
  devAdmin,
  ...(quantizationAt >= 0
    ? { env: { ...process.env, SLUICE_LOCAL_QUANTIZATION: quantization ?? '(missing)' } }
    : {}),
  logger,
}).catch((err: NodeJS.ErrnoException) => {
  // Start-up failures are the user's to fix: say what and how, without a stack trace.
  const reason =
    err.code === 'EADDRINUSE'
      ? `${(err as { address?: string }).address}:${(err as { port?: number }).port} is already in use (another npm start?). Stop it, or set PORT / SLUICE_ISSUER_PORT.`
      : err.message;
  progress(`Sluice could not start: ${reason}`);
  process.exit(1);
});

const chatModel =
  stack.config.models.find((m) => m.kind === 'chat')?.id ?? stack.config.models[0]!.id;
const { info } = stack.backends;
const lines = [
  '',
  `Sluice gateway     ${stack.gatewayUrl}   (OpenAI API at ${stack.gatewayUrl}/v1)`,
  `SageMaker endpoint ${stack.endpointUrl}   (local, SigV4 not verified)`,
  `Model              ${info.standIn ? `random-weight stand-in, ${info.quantization} weights (meaningless text; set SLUICE_LOCAL_GGUF for a real model)` : info.chatModelPath}`,
  `Models loaded in   ${Math.round(info.loadMs)} ms`,
  stack.quotaStore
    ? `Token quotas       dynalite ${stack.quotaStore.endpoint}, table ${stack.quotaStore.tableName} (in memory)`
    : '',
  auth === 'disabled'
    ? 'Authentication     OFF (--no-auth): every caller is an anonymous consumer'
    : '',
  '',
  'Try:',
  auth === 'disabled'
    ? `  curl -s ${stack.gatewayUrl}/v1/chat/completions -H 'content-type: application/json' \\`
    : `  TOKEN=$(npm run -s token -- --role consumer)\n  curl -s ${stack.gatewayUrl}/v1/chat/completions -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
  `    -d '{"model":"${chatModel}","messages":[{"role":"user","content":"Hello"}],"max_tokens":16}'`,
  '',
  'Ctrl-C stops everything.',
].filter((l, i, all) => l !== '' || all[i - 1] !== '');
progress(lines.join('\n'));

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  progress(`\nSluice: ${signal} received, stopping…`);
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  await stack.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
