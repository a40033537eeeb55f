/**
 * Wires knowledge into a hub: the vector-store service over the backend's ports, its ingestion
 * runner, and the models caller both use — every embedding and rerank call a top-level call of
 * the key that added the file or asked the search (gateway/principal.ts), admitted, charged and
 * recorded as that key's. Built once the gateway exists (createHub hands it over); closed by the
 * hub's owner before the backend, so no job writes into a closed store.
 */
import { HubError } from '../core/errors.js';
import { principalCaller } from '../gateway/principal.js';
import type { Gateway } from '../gateway/context.js';
import { IngestPool } from '../knowledge/ingest/pool.js';
import { IngestionRunner } from '../knowledge/jobs.js';
import type { ChunkIndex, FileStore, KnowledgeModels, PrepareFile, VectorStoreStore } from '../knowledge/ports.js';
import { KnowledgeService } from '../knowledge/vector-stores.js';
import type { KnowledgeSettings } from '../knowledge/vector-stores.js';
import type { Tenancy } from '../tenancy/service.js';
import type { Principal } from '../tenancy/types.js';

export interface KnowledgeStores {
  readonly vectorStores: VectorStoreStore;
  readonly files: FileStore;
  readonly knowledge: ChunkIndex;
}

export interface Knowledge {
  /** The service for the hub's routes (the runner starts on the first call). */
  service(gw: Gateway): KnowledgeService;
  /** Stops the runner: jobs under way are aborted and handed back for the next start. */
  close(): Promise<void>;
}


/** The principal a stored key id stands for now: refused when the key was revoked or expired since. */
function principalOf(tenancy: Tenancy, keyId: string | null): Principal {
  if (keyId === null) return { kind: 'admin' };
  const key = tenancy.key(keyId);
  if (key.revokedAt !== undefined) throw new HubError('authentication', `The key ${key.prefix} has been revoked.`, { code: 'key_revoked' });
  if (key.expiresAt !== undefined && key.expiresAt <= Date.now()) throw new HubError('authentication', `The key ${key.prefix} has expired.`, { code: 'key_expired' });
  let team;
  try {
    team = key.teamId ? tenancy.team(key.teamId) : undefined;
  } catch {
    team = undefined;
  }
  return { kind: 'key', key, team };
}

export function openKnowledge(o: { readonly stores: KnowledgeStores; readonly tenancy: Tenancy; readonly settings: KnowledgeSettings; readonly warn: (message: string, err: unknown) => void }): Knowledge {
  let runner: IngestionRunner | undefined;
  let pool: IngestPool | undefined;
  return {
    service(gw) {
      const models = (keyId: string | null): KnowledgeModels => principalCaller(gw, principalOf(o.tenancy, keyId), { via: 'kb' });
      // Extraction and chunking off the event loop (the pool's own time and heap limits fail a hostile file).
      const onPool = (pool ??= new IngestPool()).prepare.bind(pool);
      const prepare: PrepareFile = (bytes, filename, o) => onPool(bytes, filename, o);
      runner ??= new IngestionRunner({ store: o.stores.vectorStores, files: o.stores.files, index: o.stores.knowledge, prepare, models, warn: o.warn });
      return new KnowledgeService({ store: o.stores.vectorStores, files: o.stores.files, index: o.stores.knowledge, runner, models, settings: o.settings });
    },
    close: async () => {
      // The runner stops first (a job cut short is handed back, not failed); the pool's thread
      // ends with it, so no file is left half-read on the way out.
      const stopping = runner?.close();
      await pool?.close();
      await stopping;
    },
  };
}
