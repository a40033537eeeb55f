/**
 * What the knowledge folder needs from storage. This slice: the files behind OpenAI's Files API
 * (`/v1/files`), metadata and bytes, each owned by the key that uploaded it.
 */

/** A stored file's metadata, as the Files API reports it (without the bytes). */
export interface StoredFile {
  readonly id: string;
  /** The uploading key's id; null when the admin or an open hub uploaded it. */
  readonly keyId: string | null;
  readonly filename: string;
  readonly purpose: string;
  readonly bytes: number;
  /** Unix seconds. */
  readonly createdAt: number;
  /** Unix seconds; null when the file never expires. */
  readonly expiresAt: number | null;
}

/**
 * Who is asking: a key's id sees only that key's files; `undefined` (the admin, or a hub
 * without keys) sees every file. Nobody sees a file past its `expiresAt`: every read and delete
 * treats it as gone.
 */
export type FileOwner = string | undefined;

export interface FilePage {
  readonly data: readonly StoredFile[];
  readonly hasMore: boolean;
}

export interface FileListQuery {
  readonly owner: FileOwner;
  /** The id of the last file of the previous page; a file id the caller cannot see starts nothing (an empty page). */
  readonly after?: string;
  readonly limit: number;
  /** By creation time, then id (ids are time-ordered, so the two agree). */
  readonly order: 'asc' | 'desc';
  readonly purpose?: string;
}

export interface FileStore {
  /** Stores a new file (its id is new: a clash is an error). */
  save(file: StoredFile, content: Uint8Array): Promise<void>;
  /** The file's metadata, if `owner` may see it. */
  get(id: string, owner: FileOwner): Promise<StoredFile | undefined>;
  list(q: FileListQuery): Promise<FilePage>;
  /** The file's bytes, if `owner` may see it. */
  content(id: string, owner: FileOwner): Promise<Uint8Array | undefined>;
  /** Deletes the file if `owner` may see it; says whether it did. */
  delete(id: string, owner: FileOwner): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// The chunk index: what retrieval searches. Ingestion (knowledge/ingest) hands it a file's
// chunks; the keyword half is BM25 over words segmented by knowledge/segment.ts (so Chinese text
// is searchable by word), the vector half is nearest-neighbour by cosine similarity. SQL lives in
// store/<backend>/knowledge-index.ts; segmentation and fusion live here in knowledge/.
// ---------------------------------------------------------------------------------------------

/** One chunk of one file in one vector store, as ingestion hands it to the index. */
export interface ChunkInput {
  /** Position of the chunk within its file, from 0. */
  readonly seq: number;
  /** The chunk's text as search returns it (without any contextual header). */
  readonly text: string;
  /**
   * What the keyword index holds for it: the segmented words (knowledge/segment.ts) of its
   * contextual header and text, joined by single spaces.
   */
  readonly terms: string;
  /** Its size in tokens. */
  readonly tokens: number;
  /** Its embedding (of header and text), when its vector store has an embedding model. */
  readonly vector?: Float32Array;
}

/** Which chunks a search may return. */
export interface ChunkScope {
  readonly vectorStoreIds: readonly string[];
  /** Only these files' chunks (what an attribute filter left); undefined: every file. */
  readonly fileIds?: readonly string[];
}

export interface ChunkHit {
  readonly vectorStoreId: string;
  readonly fileId: string;
  readonly seq: number;
  readonly text: string;
  /** Higher is better. Keyword: the BM25 score (> 0); vector: cosine similarity (-1…1). */
  readonly score: number;
}

export interface StoredChunk {
  readonly seq: number;
  readonly text: string;
  readonly tokens: number;
}

/** A vector-capable index that cannot hold vectors here (PostgreSQL without pgvector), with the reason. */
export class VectorsUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VectorsUnavailableError';
  }
}

export interface ChunkIndex {
  /**
   * Puts a file's chunks in a vector store's index, replacing whatever that file had there (an
   * ingestion that restarts after a crash starts the file over). All or nothing.
   */
  replaceFile(vectorStoreId: string, fileId: string, chunks: readonly ChunkInput[]): Promise<void>;
  removeFile(vectorStoreId: string, fileId: string): Promise<void>;
  removeStore(vectorStoreId: string): Promise<void>;
  /**
   * BM25 (k1 1.2, b 0.75) over the chunks in scope, statistics taken over the scope's vector
   * stores; `terms` are the query's segmented words (duplicates count once). Best first.
   */
  keyword(scope: ChunkScope, terms: readonly string[], limit: number): Promise<ChunkHit[]>;
  /**
   * The chunks nearest `vector` by cosine similarity, best first. Chunks stored without a
   * vector are never returned. Throws VectorsUnavailableError where the backend has no vectors.
   */
  nearest(scope: ChunkScope, vector: Float32Array, limit: number): Promise<ChunkHit[]>;
  /**
   * Makes sure this index can hold vectors (PostgreSQL: pgvector there and installed), so that a
   * store with an embedding model is refused at creation rather than failing at every ingestion.
   * Throws VectorsUnavailableError where it cannot. Absent: vectors always work here.
   */
  vectorsUsable?(): Promise<void>;
  /** A file's chunks in order, `after` a seq (exclusive), for the console and inspection. */
  fileChunks(vectorStoreId: string, fileId: string, after: number | undefined, limit: number): Promise<StoredChunk[]>;
}

// ---------------------------------------------------------------------------------------------
// Vector stores (OpenAI's `/v1/vector_stores`): which files each store holds, their ingestion
// state and attributes, and the batches they came in. The chunks themselves live in the
// ChunkIndex; this is the metadata around them, and the durable queue of ingestion jobs (a
// vector-store file `in_progress` is a job; a lease says which replica is working on it).
// ---------------------------------------------------------------------------------------------

/** A file's attributes: at most 16 keys, strings (≤ 512 chars), numbers or booleans. */
export type Attributes = Readonly<Record<string, string | number | boolean>>;

/** How a file is cut into chunks, in tokens (OpenAI's `static` strategy; `auto` is 800 / 400). */
export interface Chunking {
  readonly maxTokens: number;
  readonly overlapTokens: number;
}

export interface VectorStoreRow {
  readonly id: string;
  /** The creating key's id; null for the admin or an open hub. Its owner, as for files. */
  readonly keyId: string | null;
  readonly name: string;
  readonly metadata: Readonly<Record<string, string>> | null;
  /** Unix seconds. */
  readonly createdAt: number;
  readonly lastActiveAt: number;
  /** `expires_after.days` (anchor `last_active_at`); null: never expires. */
  readonly expiresAfterDays: number | null;
  /** Unix seconds; null: never. Past it the store reports `expired` and refuses new files and searches. */
  readonly expiresAt: number | null;
  /** The model that makes (made) its vectors; null: keyword search only. Never changes once a file holds vectors. */
  readonly embeddingModel: string | null;
  /** Whether each chunk is indexed and embedded with its contextual header (title › section) before its text. */
  readonly contextualHeaders: boolean;
}

export type FileStatus = 'in_progress' | 'completed' | 'failed' | 'cancelled';

export interface FileError {
  readonly code: 'server_error' | 'unsupported_file' | 'invalid_file';
  readonly message: string;
}

export interface VectorStoreFileRow {
  readonly vectorStoreId: string;
  readonly fileId: string;
  /** The file's name when it was added (search results carry it even after the file is deleted). */
  readonly filename: string;
  /** Who added it: ingestion embeds as this key (null: the admin or an open hub). */
  readonly keyId: string | null;
  readonly createdAt: number;
  readonly status: FileStatus;
  readonly lastError: FileError | null;
  readonly attributes: Attributes | null;
  readonly chunking: Chunking;
  /** Bytes of text the index holds for it (0 until completed). */
  readonly usageBytes: number;
  readonly batchId: string | null;
}

export interface FileBatchRow {
  readonly id: string;
  readonly vectorStoreId: string;
  readonly createdAt: number;
  /** When it was cancelled; null while it was not. */
  readonly cancelledAt: number | null;
}

export interface FileCounts {
  readonly in_progress: number;
  readonly completed: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly total: number;
}

export interface Page<T> {
  readonly data: readonly T[];
  readonly hasMore: boolean;
}

/** A page of a list: `after`/`before` are ids of the previous page's edge; an unknown id starts nothing. */
export interface PageQuery {
  readonly after?: string;
  readonly before?: string;
  readonly limit: number;
  readonly order: 'asc' | 'desc';
}

export interface StorePatch {
  readonly name?: string;
  readonly metadata?: Readonly<Record<string, string>> | null;
  readonly expiresAfterDays?: number | null;
  readonly expiresAt?: number | null;
  readonly lastActiveAt?: number;
}

/** How an ingestion job ended. */
export type JobOutcome = { readonly status: 'completed'; readonly usageBytes: number } | { readonly status: 'failed'; readonly error: FileError };

export interface VectorStoreStore {
  /** A new store with its first files (all `in_progress`), in one transaction. */
  create(store: VectorStoreRow, files: readonly VectorStoreFileRow[]): Promise<void>;
  /** The store if `owner` may see it (an expired one too: it reports `expired`). */
  get(id: string, owner: FileOwner): Promise<VectorStoreRow | undefined>;
  list(owner: FileOwner, q: PageQuery): Promise<Page<VectorStoreRow>>;
  update(id: string, patch: StorePatch): Promise<void>;
  /** Sets the store's embedding model (the service refuses a change once the store holds files). */
  setEmbeddingModel(id: string, model: string | null): Promise<void>;
  /** Deletes the store, its files' rows and its batches; says whether it did. */
  delete(id: string, owner: FileOwner): Promise<boolean>;
  /** Each store's file counts and usage bytes (stores without files are absent). */
  counts(ids: readonly string[]): Promise<Map<string, FileCounts & { readonly usageBytes: number }>>;

  /** Adds files (`in_progress`), with their batch when they came in one; a file already in the store is left as it is. */
  addFiles(files: readonly VectorStoreFileRow[], batch?: FileBatchRow): Promise<void>;
  getFile(vectorStoreId: string, fileId: string): Promise<VectorStoreFileRow | undefined>;
  listFiles(vectorStoreId: string, q: PageQuery & { readonly status?: FileStatus; readonly batchId?: string }): Promise<Page<VectorStoreFileRow>>;
  /** Every file of the store that search may return (`completed`), with its attributes. */
  searchable(vectorStoreIds: readonly string[]): Promise<VectorStoreFileRow[]>;
  setAttributes(vectorStoreId: string, fileId: string, attributes: Attributes | null): Promise<boolean>;
  removeFile(vectorStoreId: string, fileId: string): Promise<boolean>;

  getBatch(vectorStoreId: string, batchId: string): Promise<FileBatchRow | undefined>;
  batchCounts(batchId: string): Promise<FileCounts>;
  /** Marks the batch cancelled and its files still `in_progress` `cancelled`; returns those files. */
  cancelBatch(vectorStoreId: string, batchId: string, now: number): Promise<string[]>;

  /**
   * Takes up to `limit` ingestion jobs no one holds (`in_progress`, lease past): each gets a lease
   * until `leaseUntil` (unix ms). Two replicas never get the same job while its lease runs. Fair
   * by the key that added the job: the oldest job of the key served least recently comes first.
   */
  claim(now: number, leaseUntil: number, limit: number): Promise<VectorStoreFileRow[]>;
  /** Extends a held lease; false when the job is gone (cancelled, removed, done elsewhere). */
  renew(vectorStoreId: string, fileId: string, leaseUntil: number): Promise<boolean>;
  /** Ends a job still `in_progress`; false when it no longer was (cancelled or removed meanwhile). */
  finish(vectorStoreId: string, fileId: string, outcome: JobOutcome): Promise<boolean>;
}

/**
 * What knowledge needs of models: embeddings and rerank, each a call through the gateway (routed,
 * admitted, charged and recorded as its principal's). Structurally the gateway's knowledge caller.
 */
export interface KnowledgeModels {
  embed(model: string, inputs: readonly string[], signal: AbortSignal): Promise<{ readonly vectors: readonly Float32Array[] }>;
  rerank(model: string, query: string, documents: readonly string[], topN: number, signal: AbortSignal): Promise<{ readonly results: readonly { readonly index: number; readonly relevanceScore: number }[] }>;
}

/** One prepared chunk (knowledge/ingest's prepareFile). */
export interface PreparedChunk {
  readonly seq: number;
  readonly text: string;
  readonly header: string;
  readonly tokens: number;
  readonly terms: string;
}

/** Text extraction and chunking of one file (knowledge/ingest, on its worker pool). Throws an error with `code` 'unsupported_file' | 'invalid_file' for a file it cannot read. */
export type PrepareFile = (bytes: Uint8Array, filename: string, o: Chunking & { readonly contextualHeaders: boolean }) => Promise<{ readonly title: string; readonly chunks: readonly PreparedChunk[] }>;
