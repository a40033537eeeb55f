import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';
import type { UsageRecord } from '../usage/record.js';
import type { Redactor } from '../core/redact.js';

export type { Logger };

/** A log object's strings with the hub's upstream secrets taken out (nested objects and arrays too). */
function redactFields(v: unknown, r: Redactor, depth = 0): unknown {
  if (typeof v === 'string') return r.scrub(v);
  if (depth > 4 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => redactFields(x, r, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = redactFields(x, r, depth + 1);
  return out;
}

/**
 * JSON lines on stdout, written asynchronously so logging never blocks a request. Level from
 * BAIMO_LOG_LEVEL (default info; `silent` turns logs off). With a `redactor`, every line logged
 * through pino (start-up, warnings, errors: the lines that may carry an error's message) has the
 * hub's upstream secrets and key-shaped strings taken out of its strings. The per-request access
 * line (`logRecord`) is not scanned: it holds only ids, counts and names, never upstream text.
 */
export function createLogger(level = 'info', destination?: DestinationStream, redactor?: Redactor): Logger {
  return pino(
    // Epoch-millisecond timestamps: formatting an ISO date on every line costs more than the rest of it.
    {
      level,
      base: undefined,
      formatters: {
        level: (label) => ({ level: label }),
        ...(redactor && { log: (o: Record<string, unknown>) => redactFields(o, redactor) as Record<string, unknown> }),
      },
      ...(redactor && {
        hooks: {
          logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
            method.apply(this, args.map((a) => (typeof a === 'string' ? redactor.scrub(a) : a)));
          },
        },
      }),
    },
    // Lines are gathered into writes of ~4 KB (one syscall per line would cost more than the
    // line; larger buffers measured slower, sonic-boom concatenates strings), and whatever is
    // gathered is written at least once a second, so a quiet hub's log is never behind by more.
    destination ?? pino.destination({ fd: 1, sync: false, minLength: 4096, periodicFlush: 1000 }),
  );
}

/**
 * One access-log line per request (and, at debug level, per retried attempt). Built from the
 * usage record, which holds ids and counts but never a key, a prompt or an answer. The line for a
 * final record is written here in pino's own line format, straight to pino's stream: it is
 * written for every request, and pino's generic serializer costs several times as much.
 */
export function logRecord(log: Logger, r: UsageRecord): void {
  const level = !r.final ? 'debug' : r.status >= 500 ? 'warn' : 'info';
  if (!log.isLevelEnabled(level)) return;
  const stream = (log as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym]!;
  const u = r.usage;
  stream.write(
    `{"level":"${level}","time":${Date.now()},"msg":"${r.final ? 'request' : 'attempt failed'}"${str('request_id', r.requestId)}${str('endpoint', r.endpoint)}` +
      `${str('model', r.model)}${str('provider', r.provider)}${str('deployment', r.deployment)}${num('attempt', r.attempt)}${num('status', r.status)}` +
      `${str('error_kind', r.errorKind)},"stream":${r.stream}${str('key_id', r.keyId)}${str('team_id', r.teamId)}${num('input_tokens', u?.inputTokens)}` +
      `${num('output_tokens', u?.outputTokens)}${num('cached_tokens', u?.cachedInputTokens)}${num('cost_usd', r.costUsd)}` +
      `${num('latency_ms', Math.round(r.latencyMs * 10) / 10)}${num('ttft_ms', r.ttftMs === undefined ? undefined : Math.round(r.ttftMs * 10) / 10)}}\n`,
  );
}

/** `,"key":"value"` with the value escaped, or nothing for undefined (as JSON.stringify leaves it out). */
const str = (key: string, v: string | undefined) => (v === undefined ? '' : `,"${key}":${JSON.stringify(v)}`);
const num = (key: string, v: number | undefined) => (v === undefined ? '' : `,"${key}":${Number.isFinite(v) ? v : null}`);
