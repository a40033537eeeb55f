/**
 * server/host.ts: the start-up `baimo serve` and `baimo chat` share. Records a killed process
 * journaled but never stored go into the store before anything else; a start that fails half-way
 * releases the data directory; an admin key is made only where the caller asks for one.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openHost } from '../src/server/host.js';
import type { HostOptions } from '../src/server/host.js';
import { openEmbedded } from '../src/server/backend.js';
import type { EmbeddedBackend } from '../src/server/backend.js';
import type { SQLiteStores } from '../src/store/sqlite/index.js';
import { UsageJournal } from '../src/usage/journal.js';
import type { UsageRecord } from '../src/usage/record.js';
import { usageRecord } from './helpers/usage-record.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'baimo-host-'));
  dirs.push(d);
  return d;
}

function record(requestId: string): UsageRecord {
  return usageRecord({
    requestId, ts: Date.now(), model: 'loop/gpt-test', provider: 'loop', upstreamModel: 'gpt-test', deployment: 'loop/gpt-test',
    usage: { inputTokens: 12, outputTokens: 9 }, latencyMs: 5, ttftMs: undefined, costUsd: 0.001,
  });
}

const options = (dir: string, o: Partial<HostOptions<EmbeddedBackend>> = {}): HostOptions<EmbeddedBackend> => ({
  dataDir: dir,
  open: () => openEmbedded(dir, { writer: 'inline' }),
  adminKey: undefined,
  authRequired: true,
  generateAdminKey: false,
  ...o,
});

const stored = (stores: SQLiteStores) => stores.recentUsage(100).map((r) => r.request_id);

describe('openHost', () => {
  it('replays what a killed process journaled, once; then journals and stores its own records', async () => {
    const dir = dataDir();
    const journal = new UsageJournal(join(dir, 'usage.journal'));
    journal.append(JSON.stringify(record('killed-1')));
    journal.append(JSON.stringify(record('killed-2')));
    journal.close(); // the process died here: journaled, never stored

    const host = await openHost(options(dir));
    expect(stored(host.backend.stores).sort()).toEqual(['killed-1', 'killed-2']);
    host.recorder.record(record('own-1'));
    await host.close();

    // The next start finds nothing left to replay: no record twice.
    const again = await openHost(options(dir));
    expect(stored(again.backend.stores).sort()).toEqual(['killed-1', 'killed-2', 'own-1']);
    await again.close();
  });

  it('makes an admin key only when asked, and only once', async () => {
    const dir = dataDir();
    const cli = await openHost(options(dir));
    expect(cli.generatedAdminKey).toBeUndefined();
    await cli.discard();
    const hub = await openHost(options(dir, { generateAdminKey: true }));
    expect(hub.generatedAdminKey).toMatch(/^sk-baimo-admin/);
    expect(hub.tenancy.authenticate({ authorization: `Bearer ${hub.generatedAdminKey}` })).toEqual({ kind: 'admin' });
    await hub.discard();
    const next = await openHost(options(dir, { generateAdminKey: true }));
    expect(next.generatedAdminKey).toBeUndefined();
    await next.discard();
  });

  it('a start that fails half-way closes what it opened and releases the data directory', async () => {
    const dir = dataDir();
    let closed = 0;
    const failing = options(dir, {
      adminKey: 'sk-not-a-valid-admin-key',
      open: () => {
        const b = openEmbedded(dir, { writer: 'inline' });
        const s = b.stores;
        // The tenancy store fails while the host reads the keys.
        const stores = Object.assign(s, { tenancy: Object.assign(Object.create(s.tenancy), { keys: () => Promise.reject(new Error('disk gone')) }) });
        return { ...b, stores, close: () => b.close().then(() => void closed++) };
      },
    });
    await expect(openHost(failing)).rejects.toThrow('disk gone');
    expect(closed).toBe(1);
    // The lock went with it: the directory opens again.
    const host = await openHost(options(dir));
    expect(existsSync(join(dir, 'usage.journal'))).toBe(true);
    await host.discard();
  });
});
