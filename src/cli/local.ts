/**
 * The gateway as the CLI hosts it: the config's models, and the hub's own stores in its data
 * directory, so a `baimo chat` call is admitted, routed, charged and recorded like a call to the
 * hub. The CLI takes the data directory's lock for the length of the call, as a hub does: while a
 * hub runs on the same directory the CLI refuses with a clear message (it never shares or breaks
 * the lock), and the usage record is written through the same journal protocol, so a killed CLI
 * loses nothing the next start does not replay.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { resolveSettings } from '../config/settings.js';
import { HubError } from '../core/errors.js';
import type { Gateway } from '../gateway/context.js';
import { assemble } from '../server/assemble.js';
import { DataDirError } from '../store/data-dir.js';
import { openSQLiteStores } from '../store/sqlite/index.js';
import { Ledger } from '../tenancy/ledger.js';
import { RateLimiter } from '../tenancy/rate-limits.js';
import { Tenancy } from '../tenancy/service.js';
import type { Principal } from '../tenancy/types.js';
import { UsageJournal } from '../usage/journal.js';
import type { UsageRecord } from '../usage/record.js';
import { UsageRecorder } from '../usage/record.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface LocalGateway {
  readonly gateway: Gateway;
  /** The data directory the calls are recorded in. */
  readonly dataDir: string;
  /** Who calls: the admin, or the key given (authenticated as the hub would: 401 when unknown, revoked or expired). */
  principal(apiKey: string | undefined): Principal;
  /** Writes every record to the store and releases the data directory. */
  close(): Promise<void>;
}

export async function openLocalGateway(o: { config: string | undefined; dataDir: string | undefined; env: Env }): Promise<LocalGateway> {
  const { env } = o;
  const { config } = loadConfigFile(o.config ?? env.BAIMO_CONFIG, env);
  const { dataDir } = resolveSettings({ dataDir: o.dataDir }, env, config);
  const { registry, prices } = await assemble(config, env);
  let store: ReturnType<typeof openSQLiteStores>;
  try {
    store = openSQLiteStores(dataDir);
  } catch (err) {
    if (!(err instanceof DataDirError)) throw err;
    throw new DataDirError(
      `\`baimo chat\` records its calls in the hub's data directory, and a running hub holds it. ${err.message} ` +
        'Or send the request to the running hub (POST /v1/chat/completions), which records it there.',
    );
  }
  try {
    // Records a killed hub (or CLI) journaled but never stored go in first, as at a hub's start.
    const journalPath = join(dataDir, 'usage.journal');
    const leftover = UsageJournal.read(journalPath);
    if (leftover.records.length) await store.usage.writeUsage(leftover.records);
    for (const f of leftover.files) rmSync(f, { force: true });
    const usage = store.usage;
    const recorder = new UsageRecorder({ writeUsageLines: (jsonl) => usage.writeUsage(jsonl.split('\n').map((l) => JSON.parse(l) as UsageRecord)) }, new UsageJournal(journalPath));
    const { tenancy } = await Tenancy.open(store.tenancy, env.BAIMO_ADMIN_KEY, true, { generate: false });
    const ledger = new Ledger((account, _period, since) => {
      const [kind, id] = account.split(':') as ['key' | 'team', string];
      return store.tenancy.spendOf(kind, id, since);
    });
    return {
      gateway: { registry, recorder, prices, ledger, limiter: new RateLimiter() },
      dataDir,
      principal(apiKey) {
        if (apiKey === undefined) return { kind: 'admin' };
        const p = tenancy.authenticate({ authorization: `Bearer ${apiKey}` });
        if (p.kind === 'open') throw new HubError('authentication', 'Invalid API key.');
        return p;
      },
      async close() {
        try {
          await recorder.close();
        } finally {
          store.close();
        }
      },
    };
  } catch (err) {
    store.close();
    throw err;
  }
}
