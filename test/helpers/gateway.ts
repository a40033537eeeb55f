/**
 * The gateway as callers outside HTTP use it (the CLI, evaluation runs, knowledge ingestion), for
 * tests that call it directly: assembled from a config as a hub assembles it, with in-memory
 * budgets and rate limits.
 */
import { validateConfig } from '../../src/config/load.js';
import type { Gateway } from '../../src/gateway/context.js';
import { assemble } from '../../src/server/assemble.js';
import { Ledger } from '../../src/tenancy/ledger.js';
import { RateLimiter } from '../../src/tenancy/rate-limits.js';
import type { Principal, VirtualKey } from '../../src/tenancy/types.js';
import type { UsageRecord } from '../../src/usage/record.js';
import { UsageRecorder } from '../../src/usage/record.js';

/**
 * A gateway over `doc` (a baimo.yaml as an object, no environment), a fresh ledger with nothing
 * spent, and every usage record it writes pushed onto `records` as it is written.
 */
export async function startTestGateway(doc: unknown, records: UsageRecord[]): Promise<{ gw: Gateway; ledger: Ledger }> {
  const config = validateConfig(doc, {});
  const { registry, prices } = await assemble(config, {}, { detectOllama: false });
  const recorder = new UsageRecorder({ writeUsageLines: (jsonl) => void records.push(...jsonl.split('\n').map((l) => JSON.parse(l) as UsageRecord)) }, undefined, 1);
  const ledger = new Ledger(() => 0);
  return { gw: { registry, recorder, prices, ledger, limiter: new RateLimiter() }, ledger };
}

/** A key's principal (no team), with a $10 budget unless `o` says otherwise. */
export const keyPrincipal = (id: string, o: Partial<VirtualKey> = {}): Principal => ({
  kind: 'key',
  key: { id, name: id, prefix: `sk-${id}`, hash: id, teamId: undefined, metadata: {}, createdAt: 0, budgetUsd: 10, ...o },
  team: undefined,
});
