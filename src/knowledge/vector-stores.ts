/**
 * Vector stores as OpenAI's API has them, over the ports: which key owns a store (a key sees
 * only its own; the admin and an open hub every one), which files it may take (those its key may
 * see through the Files API), expiry by last activity, file batches, and searches. Adding files
 * queues ingestion jobs (knowledge/jobs.ts); removing a file or deleting a store cancels its
 * jobs and takes its chunks out of the index. HTTP shapes live in server/routes/vector-stores.ts.
 */
import { HubError } from '../core/errors.js';
import type { ModelCaller, RetrievalQuery, Retriever } from '../core/model.js';
import type { RetrievedPassage } from '../core/types.js';
import { timeOrderedId } from '../core/ids.js';
import { FilterError, matches, parseFilter } from './filters.js';
import type { Filter } from './filters.js';
import type { IngestionRunner } from './jobs.js';
import type {
  Attributes, Chunking, ChunkIndex, FileBatchRow, FileCounts, FileOwner, FileStatus, FileStore, KnowledgeModels, Page, PageQuery, StoredChunk, VectorStoreFileRow, VectorStoreRow, VectorStoreStore,
} from './ports.js';
import { VectorsUnavailableError } from './ports.js';
import { search } from './search.js';
import type { Scoring } from './search.js';

/** OpenAI's `auto` chunking: 800-token chunks overlapping by 400. */
export const AUTO_CHUNKING: Chunking = { maxTokens: 800, overlapTokens: 400 };

const DAY_S = 86_400;

/** Who is calling: the owner rule for reads, and the key new files' ingestion is charged to. */
export interface Caller {
  readonly owner: FileOwner;
  readonly keyId: string | null;
}

export interface FileToAdd {
  readonly fileId: string;
  readonly attributes: Attributes | null;
  readonly chunking: Chunking;
}

export interface NewStore {
  readonly name: string;
  readonly metadata: Readonly<Record<string, string>> | null;
  readonly expiresAfterDays: number | null;
  readonly files: readonly FileToAdd[];
  /** An explicit model (the `embedding_model` extension); undefined: the hub's default. */
  readonly embeddingModel?: string | null | undefined;
  /** Index and embed each chunk with its "title › section" header (the `contextual_headers` extension); default true. */
  readonly contextualHeaders?: boolean | undefined;
}

export interface StoreView {
  readonly store: VectorStoreRow;
  readonly counts: FileCounts;
  readonly usageBytes: number;
  readonly status: 'expired' | 'in_progress' | 'completed';
}

export interface SearchQuery {
  readonly queries: readonly string[];
  readonly filter?: Filter | undefined;
  readonly maxResults: number;
  readonly threshold?: number | undefined;
  /** `ranking_options.ranker` 'none' turns the rerank model off. */
  readonly rerank: boolean;
  /** Which lists to search (the `baimo_mode` extension): default both where the store has vectors. */
  readonly lists?: 'keyword' | 'vector' | 'both' | undefined;
}

export interface SearchHitView {
  readonly vectorStoreId: string;
  readonly fileId: string;
  readonly filename: string;
  readonly attributes: Attributes | null;
  readonly text: string;
  readonly score: number;
}

export interface KnowledgeSettings {
  /** The hub's default embedding model for new stores (config `knowledge.embeddingModel`); absent: keyword only. */
  readonly embeddingModel?: string | undefined;
  /** Rerank searches' candidates with this model (config `knowledge.rerankModel`). */
  readonly rerankModel?: string | undefined;
}

export interface KnowledgeDeps {
  readonly store: VectorStoreStore;
  readonly files: FileStore;
  readonly index: ChunkIndex;
  readonly runner: Pick<IngestionRunner, 'poke' | 'cancel'>;
  /** Models charged to a key (null: the admin or an open hub); undefined: this hub cannot call any for knowledge. */
  readonly models?: ((keyId: string | null) => KnowledgeModels) | undefined;
  readonly settings: KnowledgeSettings;
}

const EMPTY_COUNTS: FileCounts = { in_progress: 0, completed: 0, failed: 0, cancelled: 0, total: 0 };

function noStore(id: string): HubError {
  return new HubError('not_found', `No vector store found with id '${id.slice(0, 200)}'.`, { param: 'vector_store_id' });
}

function noFile(id: string, param: string): HubError {
  return new HubError('not_found', `No file found with id '${id.slice(0, 200)}'.`, { param });
}

const now = () => Math.floor(Date.now() / 1000);

export class KnowledgeService implements Retriever {
  constructor(private readonly d: KnowledgeDeps) {}

  private expired(s: VectorStoreRow): boolean {
    return s.expiresAt !== null && s.expiresAt <= now();
  }

  /** The store if the caller may see it, else a 404 (another key's store is as if absent). */
  private async owned(id: string, c: Caller): Promise<VectorStoreRow> {
    const s = await this.d.store.get(id, c.owner);
    if (!s) throw noStore(id);
    return s;
  }

  /** A store that takes new files and searches: not expired. Activity moves its expiry on. */
  private async live(id: string, c: Caller): Promise<VectorStoreRow> {
    const s = await this.owned(id, c);
    if (this.expired(s)) throw new HubError('bad_request', `Vector store ${s.id} has expired; create another, or modify its expires_after.`, { param: 'vector_store_id', code: 'vector_store_expired' });
    const t = now();
    if (t !== s.lastActiveAt) await this.d.store.update(s.id, { lastActiveAt: t, ...(s.expiresAfterDays !== null && { expiresAt: t + s.expiresAfterDays * DAY_S }) });
    return s;
  }

  async views(stores: readonly VectorStoreRow[]): Promise<StoreView[]> {
    const counts = await this.d.store.counts(stores.map((s) => s.id));
    return stores.map((store) => {
      const c = counts.get(store.id);
      const status = this.expired(store) ? 'expired' : (c?.in_progress ?? 0) > 0 ? 'in_progress' : 'completed';
      return { store, counts: c ?? EMPTY_COUNTS, usageBytes: c?.usageBytes ?? 0, status };
    });
  }

  async view(store: VectorStoreRow): Promise<StoreView> {
    return (await this.views([store]))[0]!;
  }

  /** The rows for files the caller may add: each must be a file its key may see. */
  private async fileRows(vectorStoreId: string, c: Caller, files: readonly FileToAdd[], param: string, batchId: string | null): Promise<VectorStoreFileRow[]> {
    const t = now();
    const rows: VectorStoreFileRow[] = [];
    const seen = new Set<string>();
    for (const f of files) {
      if (seen.has(f.fileId)) continue;
      seen.add(f.fileId);
      const stored = await this.d.files.get(f.fileId, c.owner);
      if (!stored) throw noFile(f.fileId, param);
      rows.push({ vectorStoreId, fileId: f.fileId, filename: stored.filename, keyId: c.keyId, createdAt: t, status: 'in_progress', lastError: null, attributes: f.attributes, chunking: f.chunking, usageBytes: 0, batchId });
    }
    return rows;
  }

  private embeddingModel(asked: string | null | undefined): string | null {
    const model = asked === undefined ? (this.d.settings.embeddingModel ?? null) : asked;
    if (model !== null && !this.d.models) {
      throw new HubError('bad_request', `This hub cannot call embedding models for knowledge, so a vector store with embedding_model '${model.slice(0, 100)}' could never be searched by meaning; leave embedding_model out (keyword search).`, { param: 'embedding_model' });
    }
    return model;
  }

  /**
   * A store with an embedding model needs an index that holds vectors: where it cannot (PostgreSQL
   * without pgvector), refused now with what to install, as search would refuse it (501
   * `vectors_unavailable`), not accepted only to fail every file it is given.
   */
  private async vectorsUsable(model: string | null, asked: string | null | undefined): Promise<void> {
    if (model === null || !this.d.index.vectorsUsable) return;
    try {
      await this.d.index.vectorsUsable();
    } catch (err) {
      if (err instanceof VectorsUnavailableError) {
        const which = asked === undefined ? `this hub's default embedding model '${model.slice(0, 100)}' (knowledge.embeddingModel; send "embedding_model": null for a keyword-only store)` : `embedding_model '${model.slice(0, 100)}'`;
        throw new HubError('not_found', `A vector store with ${which} cannot be kept here. ${err.message}`, { status: 501, code: 'vectors_unavailable', param: 'embedding_model' });
      }
      throw err;
    }
  }

  async create(c: Caller, n: NewStore): Promise<StoreView> {
    const t = now();
    const id = timeOrderedId('vs_');
    const store: VectorStoreRow = {
      id,
      keyId: c.keyId,
      name: n.name,
      metadata: n.metadata,
      createdAt: t,
      lastActiveAt: t,
      expiresAfterDays: n.expiresAfterDays,
      expiresAt: n.expiresAfterDays === null ? null : t + n.expiresAfterDays * DAY_S,
      embeddingModel: this.embeddingModel(n.embeddingModel),
      contextualHeaders: n.contextualHeaders ?? true,
    };
    const files = await this.fileRows(id, c, n.files, 'file_ids', null);
    await this.vectorsUsable(store.embeddingModel, n.embeddingModel);
    await this.d.store.create(store, files);
    if (files.length) this.d.runner.poke();
    return this.view(store);
  }

  async get(id: string, c: Caller): Promise<StoreView> {
    return this.view(await this.owned(id, c));
  }

  async list(c: Caller, q: PageQuery): Promise<Page<StoreView>> {
    const page = await this.d.store.list(c.owner, q);
    return { data: await this.views(page.data), hasMore: page.hasMore };
  }

  async modify(id: string, c: Caller, patch: { name?: string | null; metadata?: Readonly<Record<string, string>> | null; expiresAfterDays?: number | null; embeddingModel?: string | null }): Promise<StoreView> {
    const s = await this.owned(id, c);
    if (patch.embeddingModel !== undefined && patch.embeddingModel !== s.embeddingModel) {
      const counts = (await this.d.store.counts([s.id])).get(s.id);
      if (counts && counts.total > 0) {
        throw new HubError('bad_request', `Vector store ${s.id} already holds files indexed with ${s.embeddingModel ?? 'keyword search only'}; vectors of two models are never mixed. Create another store for ${String(patch.embeddingModel).slice(0, 100)}.`, { param: 'embedding_model' });
      }
    }
    const t = now();
    const days = patch.expiresAfterDays === undefined ? s.expiresAfterDays : patch.expiresAfterDays;
    const updated: VectorStoreRow = {
      ...s,
      ...(patch.name != null && { name: patch.name }),
      ...(patch.metadata !== undefined && { metadata: patch.metadata }),
      ...(patch.embeddingModel !== undefined && { embeddingModel: this.embeddingModel(patch.embeddingModel) }),
      expiresAfterDays: days,
      expiresAt: days === null ? null : t + days * DAY_S,
      lastActiveAt: t,
    };
    if (updated.embeddingModel !== s.embeddingModel) await this.vectorsUsable(updated.embeddingModel, patch.embeddingModel);
    await this.d.store.update(s.id, { name: updated.name, metadata: updated.metadata, expiresAfterDays: days, expiresAt: updated.expiresAt, lastActiveAt: t });
    if (updated.embeddingModel !== s.embeddingModel) await this.d.store.setEmbeddingModel(s.id, updated.embeddingModel);
    return this.view(updated);
  }

  async delete(id: string, c: Caller): Promise<void> {
    if (!(await this.d.store.delete(id, c.owner))) throw noStore(id);
    this.d.runner.cancel(id);
    await this.d.index.removeStore(id);
  }

  async addFiles(id: string, c: Caller, files: readonly FileToAdd[], asBatch: boolean): Promise<{ rows: VectorStoreFileRow[]; batch?: FileBatchRow }> {
    const s = await this.live(id, c);
    const batch: FileBatchRow | undefined = asBatch ? { id: timeOrderedId('vsfb_'), vectorStoreId: s.id, createdAt: now(), cancelledAt: null } : undefined;
    const rows = await this.fileRows(s.id, c, files, asBatch ? 'file_ids' : 'file_id', batch?.id ?? null);
    await this.d.store.addFiles(rows, batch);
    this.d.runner.poke();
    // A file already in the store keeps its row (and its state): the answer shows what is there.
    const current = await Promise.all(rows.map(async (r) => (await this.d.store.getFile(s.id, r.fileId)) ?? r));
    return { rows: current, ...(batch && { batch }) };
  }

  async file(id: string, fileId: string, c: Caller): Promise<VectorStoreFileRow> {
    await this.owned(id, c);
    const f = await this.d.store.getFile(id, fileId);
    if (!f) throw noFile(fileId, 'file_id');
    return f;
  }

  async listFiles(id: string, c: Caller, q: PageQuery & { status?: FileStatus; batchId?: string }): Promise<Page<VectorStoreFileRow>> {
    await this.owned(id, c);
    return this.d.store.listFiles(id, q);
  }

  async setAttributes(id: string, fileId: string, c: Caller, attributes: Attributes | null): Promise<VectorStoreFileRow> {
    await this.owned(id, c);
    if (!(await this.d.store.setAttributes(id, fileId, attributes))) throw noFile(fileId, 'file_id');
    return (await this.d.store.getFile(id, fileId))!;
  }

  async removeFile(id: string, fileId: string, c: Caller): Promise<void> {
    await this.owned(id, c);
    if (!(await this.d.store.removeFile(id, fileId))) throw noFile(fileId, 'file_id');
    this.d.runner.cancel(id, fileId);
    await this.d.index.removeFile(id, fileId);
  }

  /** A file's chunks as the index holds them, in order. */
  async content(id: string, fileId: string, c: Caller): Promise<StoredChunk[]> {
    await this.file(id, fileId, c);
    const out: StoredChunk[] = [];
    for (;;) {
      const page = await this.d.index.fileChunks(id, fileId, out.at(-1)?.seq, 1000);
      out.push(...page);
      if (page.length < 1000) return out;
    }
  }

  async batch(id: string, batchId: string, c: Caller): Promise<{ batch: FileBatchRow; counts: FileCounts }> {
    await this.owned(id, c);
    const batch = await this.d.store.getBatch(id, batchId);
    if (!batch) throw new HubError('not_found', `No file batch found with id '${batchId.slice(0, 200)}'.`, { param: 'batch_id' });
    return { batch, counts: await this.d.store.batchCounts(batch.id) };
  }

  async cancelBatch(id: string, batchId: string, c: Caller): Promise<{ batch: FileBatchRow; counts: FileCounts }> {
    await this.batch(id, batchId, c);
    const cancelled = await this.d.store.cancelBatch(id, batchId, now());
    for (const fileId of cancelled) {
      this.d.runner.cancel(id, fileId);
      await this.d.index.removeFile(id, fileId);
    }
    return this.batch(id, batchId, c);
  }

  /** `POST /v1/vector_stores/{id}/search`: one store. */
  async search(id: string, c: Caller, q: SearchQuery, signal: AbortSignal): Promise<{ hits: SearchHitView[]; scoring: Scoring | null }> {
    return this.searchStores([id], c, q, signal);
  }

  /**
   * The gateway's Retriever (a knowledge-grounded model's search): embedding and rerank calls go
   * through `caller`, so they are sub-calls of the model's call, charged to its key. The stores
   * are the ones the model was configured with by the operator, so any store is searched (the
   * admin's view): a route that lets a client name stores (file_search) must check the client's
   * key owns them before it asks.
   */
  async retrieve(query: RetrievalQuery, caller: ModelCaller, signal: AbortSignal): Promise<RetrievedPassage[]> {
    let filter: Filter | undefined;
    try {
      filter = query.filters === undefined || query.filters === null ? undefined : parseFilter(query.filters);
    } catch (err) {
      if (err instanceof FilterError) throw new HubError('bad_request', err.message, { param: err.param });
      throw err;
    }
    const r = await this.searchStores(
      query.vectorStoreIds,
      { owner: undefined, keyId: null },
      { queries: [query.query], filter, maxResults: query.maxResults, threshold: query.scoreThreshold, rerank: true },
      signal,
      caller,
    );
    return r.hits.map((h) => ({ fileId: h.fileId, filename: h.filename, vectorStoreId: h.vectorStoreId, score: h.score, text: h.text, ...(h.attributes && { attributes: h.attributes }) }));
  }

  /**
   * Searches several stores at once (the `file_search` tool names a list): each must be the
   * caller's and live. Keyword statistics span them all; each store's vectors are compared with
   * the query embedded by that store's own model. A filter is applied per (store, file).
   */
  async searchStores(ids: readonly string[], c: Caller, q: SearchQuery, signal: AbortSignal, through?: KnowledgeModels): Promise<{ hits: SearchHitView[]; scoring: Scoring | null }> {
    const stores: VectorStoreRow[] = [];
    for (const id of new Set(ids)) stores.push(await this.live(id, c));
    const key = (storeId: string, fileId: string) => `${storeId}\u0000${fileId}`;
    const files = new Map((await this.d.store.searchable(stores.map((s) => s.id))).filter((f) => !q.filter || matches(q.filter, f.attributes)).map((f) => [key(f.vectorStoreId, f.fileId), f]));
    let fileIds: string[] | undefined;
    if (q.filter) {
      fileIds = [...new Set([...files.values()].map((f) => f.fileId))];
      if (!fileIds.length) return { hits: [], scoring: null };
    }
    const scope = (vectorStoreIds: string[]) => ({ vectorStoreIds, ...(fileIds && { fileIds }) });
    const byModel = new Map<string, string[]>();
    for (const s of stores) if (s.embeddingModel !== null) byModel.set(s.embeddingModel, [...(byModel.get(s.embeddingModel) ?? []), s.id]);
    const rerankModel = q.rerank ? this.d.settings.rerankModel : undefined;
    const models = (byModel.size > 0 && q.lists !== 'keyword') || rerankModel !== undefined ? (through ?? this.d.models?.(c.keyId)) : undefined;
    const r = await search(
      this.d.index,
      models,
      {
        queries: q.queries,
        scope: scope(stores.map((s) => s.id)),
        maxResults: q.maxResults,
        threshold: q.threshold,
        vectors: q.lists === 'keyword' ? [] : [...byModel].map(([model, vectorStoreIds]) => ({ model, scope: scope(vectorStoreIds) })),
        keyword: q.lists !== 'vector',
        rerankModel: models ? rerankModel : undefined,
      },
      signal,
    );
    // Only chunks of files that passed the filter in their own store (a file id in two stores may
    // pass in one only), and never one whose file left the store since the index was read.
    const hits = r.hits.flatMap((h) => {
      const f = files.get(key(h.vectorStoreId, h.fileId));
      return f ? [{ vectorStoreId: h.vectorStoreId, fileId: h.fileId, filename: f.filename, attributes: f.attributes, text: h.text, score: h.score }] : [];
    });
    return { hits, scoring: r.scoring };
  }
}
