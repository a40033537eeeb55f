import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';
import type { UsageRecord } from '../usage/record.js';

export type { Logger };

/**
 * JSON lines on stdout, written asynchronously so logging never blocks a request. Level from
 * BAIMO_LOG_LEVEL (default info; `silent` turns logs off).
 */
export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  return pino(
    // Epoch-millisecond timestamps: formatting an ISO date on every line costs more than the rest of it.
    { level, base: undefined, formatters: { level: (label) => ({ level: label }) } },
    // Lines are gathered into writes of ~4 KB: one syscall per line would cost more than the line.
    destination ?? pino.destination({ fd: 1, sync: false, minLength: 4096 }),
  );
}

/**
 * One access-log line per request (and, at debug level, per retried attempt). Built from the
 * usage record, which holds ids and counts but never a key, a prompt or an answer. The line for a
 * final record is serialized here in pino's own format and handed to pino's stream: it is
 * written for every request, and going through pino's generic serializer costs twice as much.
 */
export function logRecord(log: Logger, r: UsageRecord): void {
  if (!r.final) {
    if (log.isLevelEnabled('debug')) log.debug({ msg: 'attempt failed', ...fields(r) });
    return;
  }
  const level = r.status >= 500 ? 'warn' : 'info';
  if (!log.isLevelEnabled(level)) return;
  const stream = (log as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym]!;
  stream.write(`{"level":"${level}","time":${Date.now()},"msg":"request",${JSON.stringify(fields(r)).slice(1)}\n`);
}

function fields(r: UsageRecord) {
  return {
    request_id: r.requestId,
    endpoint: r.endpoint,
    model: r.model,
    provider: r.provider,
    deployment: r.deployment,
    attempt: r.attempt,
    status: r.status,
    error_kind: r.errorKind,
    stream: r.stream,
    key_id: r.keyId,
    team_id: r.teamId,
    input_tokens: r.usage?.inputTokens,
    output_tokens: r.usage?.outputTokens,
    cached_tokens: r.usage?.cachedInputTokens,
    cost_usd: r.costUsd,
    latency_ms: Math.round(r.latencyMs * 10) / 10,
    ttft_ms: r.ttftMs === undefined ? undefined : Math.round(r.ttftMs * 10) / 10,
  };
}
