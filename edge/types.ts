import type { Principal } from './auth/principal.js';

/** Structured logger: one JSON object per line. Never pass tokens or prompt text. */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Injected time source, so tests can control it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Per-request values shared between middleware and routes. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** Set by authentication; an anonymous consumer when authentication is off (local mode only). */
    principal: Principal;
    /** Public id of the model the request resolved to, for metrics and logs. */
    model?: string;
  };
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

/**
 * A JSON-lines logger on a writable (stdout by default).
 * @default level 'info'
 */
export const createJsonLogger = (
  options: {
    level?: LogLevel;
    write?: (line: string) => void;
    base?: Record<string, unknown>;
  } = {},
): Logger => {
  const min = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const base = options.base ?? {};
  const emit = (level: LogLevel) => (fields: Record<string, unknown>, message: string) => {
    if (LEVELS[level] < min) return;
    write(JSON.stringify({ level, time: new Date().toISOString(), message, ...base, ...fields }));
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
