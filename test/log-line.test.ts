import { describe, expect, it } from 'vitest';
import { createLogger, logRecord } from '../src/server/log.js';
import type { UsageRecord } from '../src/usage/record.js';

const record: UsageRecord = {
  requestId: 'req_1', ts: 0, endpoint: 'chat', model: 'odd "model"\\ name\n中文', provider: 'p', upstreamModel: 'm', deployment: 'p/m',
  attempt: 1, final: true, fallbackFrom: undefined, keyId: 'key_1', stream: true, status: 200, errorKind: undefined,
  usage: { inputTokens: 3, outputTokens: 4 }, costUsd: 0.5, latencyMs: 12.345, ttftMs: undefined,
};

describe('access log line', () => {
  it('is one valid JSON line with escaped strings and no undefined fields', () => {
    const lines: string[] = [];
    const log = createLogger('debug', { write: (s: string) => void lines.push(s) });
    logRecord(log, record);
    logRecord(log, { ...record, final: false, status: 502, errorKind: 'upstream' });
    logRecord(log, { ...record, status: 503, latencyMs: Number.NaN });
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [ok, attempt, failed] = lines.map((l) => JSON.parse(l));
    expect(ok).toEqual({
      level: 'info', time: expect.any(Number), msg: 'request', request_id: 'req_1', endpoint: 'chat', model: record.model, provider: 'p',
      deployment: 'p/m', attempt: 1, status: 200, stream: true, key_id: 'key_1', input_tokens: 3, output_tokens: 4, cost_usd: 0.5, latency_ms: 12.3,
    });
    expect(attempt).toMatchObject({ level: 'debug', msg: 'attempt failed', status: 502, error_kind: 'upstream' });
    expect(failed).toMatchObject({ level: 'warn', latency_ms: null });
  });

  it('is not written below the logger level', () => {
    const lines: string[] = [];
    logRecord(createLogger('warn', { write: (s: string) => void lines.push(s) }), record);
    expect(lines).toEqual([]);
  });
});
