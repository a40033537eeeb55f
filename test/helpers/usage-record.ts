import type { UsageRecord } from '../../src/usage/record.js';

/** A final, successful chat record of 10 + 5 tokens; the fields a test cares about are given. */
export function usageRecord(o: Partial<UsageRecord> & Pick<UsageRecord, 'requestId' | 'ts'>): UsageRecord {
  return {
    endpoint: 'chat',
    model: 'm1',
    provider: 'p',
    upstreamModel: 'u',
    deployment: 'p/u',
    attempt: 1,
    final: true,
    fallbackFrom: undefined,
    stream: false,
    status: 200,
    errorKind: undefined,
    usage: { inputTokens: 10, outputTokens: 5 },
    latencyMs: 100,
    ttftMs: 20,
    ...o,
  };
}
