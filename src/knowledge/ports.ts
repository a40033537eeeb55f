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
  /** A file's chunks in order, `after` a seq (exclusive), for the console and inspection. */
  fileChunks(vectorStoreId: string, fileId: string, after: number | undefined, limit: number): Promise<StoredChunk[]>;
}
