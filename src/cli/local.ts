/**
 * The gateway as the CLI hosts it: the config's models, and the hub's own stores in its data
 * directory, so a `baimo chat` call is admitted, routed, charged and recorded like a call to the
 * hub. The CLI takes the data directory's lock for the length of the call, as a hub does: while a
 * hub runs on the same directory the CLI refuses with a clear message (it never shares or breaks
 * the lock), and the usage record is written through the same journal protocol, so a killed CLI
 * loses nothing the next start does not replay.
 */
import { loadConfigFile } from '../config/load.js';
import { resolveSettings } from '../config/settings.js';
import { HubError } from '../core/errors.js';
import type { Gateway } from '../gateway/context.js';
import { assemble } from '../server/assemble.js';
import { join } from 'node:path';
import { openEmbedded, openShared, StoreUnreachableError } from '../server/backend.js';
import type { EmbeddedBackend, SharedBackend } from '../server/backend.js';
import { openHost } from '../server/host.js';
import { DataDirError } from '../store/data-dir.js';
import type { Principal } from '../tenancy/types.js';

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
  const settings = resolveSettings({ dataDir: o.dataDir }, env, config);
  const { databaseUrl, redisUrl } = settings;
  // On the shared store the CLI is one more replica: its calls are admitted against the shared
  // limits and recorded in PostgreSQL, journaled meanwhile in a directory of its own (the hub holds DATA_DIR).
  const dataDir = databaseUrl ? join(settings.dataDir, 'cli') : settings.dataDir;
  const { registry, prices } = await assemble(config, env);
  const host = await openHost<EmbeddedBackend | SharedBackend>({
    dataDir,
    open: async () => {
      try {
        return await (databaseUrl ? openShared(dataDir, databaseUrl, redisUrl) : openEmbedded(dataDir, { writer: 'inline' }));
      } catch (err) {
        // Only the lock's refusal is about another process; an unreachable store speaks for itself.
        if (!(err instanceof DataDirError) || err instanceof StoreUnreachableError) throw err;
        throw new DataDirError(
          databaseUrl
            ? `Another \`baimo chat\` is running on this data directory. ${err.message}`
            : `\`baimo chat\` records its calls in the hub's data directory, and a running hub holds it. ${err.message} ` +
                'Or send the request to the running hub (POST /v1/chat/completions), which records it there.',
        );
      }
    },
    adminKey: env.BAIMO_ADMIN_KEY,
    authRequired: true,
    generateAdminKey: false,
  });
  const { backend, recorder, tenancy } = host;
  return {
    gateway: { registry, recorder, prices, ledger: backend.ledger, limiter: backend.limiter },
    dataDir,
    principal(apiKey) {
      if (apiKey === undefined) return { kind: 'admin' };
      const p = tenancy.authenticate({ authorization: `Bearer ${apiKey}` });
      if (p.kind === 'open') throw new HubError('authentication', 'Invalid API key.');
      return p;
    },
    close: () => host.close(),
  };
}
