import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { startHub } from '../../src/server/start.js';
import type { RunningHub } from '../../src/server/start.js';
import type { SQLiteStores } from '../../src/store/sqlite/index.js';
import type { PostgresStores } from '../../src/store/postgres/index.js';

export interface TestHub<S extends SQLiteStores | PostgresStores = SQLiteStores> extends RunningHub<S> {
  readonly dir: string;
  /** Stops the hub and removes its data directory. */
  dispose(): Promise<void>;
}

/**
 * A hub on a random loopback port with its own data directory, configured by a real baimo.yaml
 * and an explicit environment, so nothing from the developer's shell leaks in.
 */
export async function startTestHub(yaml: string, env: Record<string, string> = {}, logDestination?: DestinationStream): Promise<TestHub> {
  const hub = await startAnyTestHub(yaml, env, logDestination);
  if (hub.store.kind !== 'sqlite') {
    await hub.dispose();
    throw new Error('startTestHub is for the embedded store; use startSharedTestHub with a database URL');
  }
  return hub as TestHub<SQLiteStores>;
}

/** A replica on the shared store: `databaseUrl` (and `redisUrl` when given) in its environment. */
export async function startSharedTestHub(
  yaml: string,
  urls: { readonly databaseUrl: string; readonly redisUrl?: string | undefined },
  env: Record<string, string> = {},
): Promise<TestHub<PostgresStores>> {
  const hub = await startAnyTestHub(yaml, { BAIMO_DATABASE_URL: urls.databaseUrl, ...(urls.redisUrl && { BAIMO_REDIS_URL: urls.redisUrl }), ...env });
  if (hub.store.kind !== 'postgres') throw new Error('expected a hub on PostgreSQL');
  return hub as TestHub<PostgresStores>;
}

async function startAnyTestHub(yaml: string, env: Record<string, string>, logDestination?: DestinationStream): Promise<TestHub<SQLiteStores | PostgresStores>> {
  // Most tests are about models, not keys: run open and quiet unless a test asks otherwise.
  env = { BAIMO_AUTH: 'none', BAIMO_LOG_LEVEL: logDestination ? 'debug' : 'silent', ...env };
  const dir = mkdtempSync(join(tmpdir(), 'baimo-test-'));
  const config = join(dir, 'baimo.yaml');
  writeFileSync(config, yaml);
  let hub: RunningHub;
  try {
    hub = await startHub({ config, port: '0', host: '127.0.0.1', dataDir: join(dir, 'data'), env, detectOllama: false, ...(logDestination && { logDestination }) });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let disposed = false;
  return {
    ...hub,
    dir,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
