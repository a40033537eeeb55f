/**
 * Rows of the vector-store tables, the same in both backends (store/sqlite/schema.ts,
 * store/postgres/schema.ts); metadata and attributes are JSON text. Both stores convert here, so
 * the two cannot drift on what a column means.
 */
import type { Attributes, FileBatchRow, FileCounts, FileStatus, VectorStoreFileRow, VectorStoreRow } from '../knowledge/ports.js';

export const STORE_COLUMNS = 'id, key_id, name, metadata, created_at, last_active_at, expires_after_days, expires_at, embedding_model, contextual_headers';
export const FILE_COLUMNS = 'vector_store_id, file_id, filename, key_id, created_at, status, error_code, error_message, attributes, max_tokens, overlap_tokens, usage_bytes, batch_id';

export interface StoreRow {
  id: string;
  key_id: string | null;
  name: string;
  metadata: string | null;
  created_at: number;
  last_active_at: number;
  expires_after_days: number | null;
  expires_at: number | null;
  embedding_model: string | null;
  /** 0/1 in SQLite, a boolean in PostgreSQL. */
  contextual_headers: number | boolean;
}

export interface FileRow {
  vector_store_id: string;
  file_id: string;
  filename: string;
  key_id: string | null;
  created_at: number;
  status: string;
  error_code: string | null;
  error_message: string | null;
  attributes: string | null;
  max_tokens: number;
  overlap_tokens: number;
  usage_bytes: number;
  batch_id: string | null;
}

export interface BatchRow {
  id: string;
  vector_store_id: string;
  created_at: number;
  cancelled_at: number | null;
}

export function storeFrom(r: StoreRow): VectorStoreRow {
  return {
    id: r.id,
    keyId: r.key_id,
    name: r.name,
    metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Record<string, string>),
    createdAt: r.created_at,
    lastActiveAt: r.last_active_at,
    expiresAfterDays: r.expires_after_days,
    expiresAt: r.expires_at,
    embeddingModel: r.embedding_model,
    contextualHeaders: Boolean(r.contextual_headers),
  };
}

export function storeValues(s: VectorStoreRow): unknown[] {
  return [s.id, s.keyId, s.name, s.metadata === null ? null : JSON.stringify(s.metadata), s.createdAt, s.lastActiveAt, s.expiresAfterDays, s.expiresAt, s.embeddingModel, s.contextualHeaders];
}

export function fileFrom(r: FileRow): VectorStoreFileRow {
  return {
    vectorStoreId: r.vector_store_id,
    fileId: r.file_id,
    filename: r.filename,
    keyId: r.key_id,
    createdAt: r.created_at,
    status: r.status as FileStatus,
    lastError: r.error_code === null ? null : { code: r.error_code as 'server_error', message: r.error_message ?? '' },
    attributes: r.attributes === null ? null : (JSON.parse(r.attributes) as Attributes),
    chunking: { maxTokens: r.max_tokens, overlapTokens: r.overlap_tokens },
    usageBytes: r.usage_bytes,
    batchId: r.batch_id,
  };
}

export function fileValues(f: VectorStoreFileRow): unknown[] {
  return [
    f.vectorStoreId,
    f.fileId,
    f.filename,
    f.keyId,
    f.createdAt,
    f.status,
    f.lastError?.code ?? null,
    f.lastError?.message ?? null,
    f.attributes === null ? null : JSON.stringify(f.attributes),
    f.chunking.maxTokens,
    f.chunking.overlapTokens,
    f.usageBytes,
    f.batchId,
  ];
}

export function batchFrom(r: BatchRow): FileBatchRow {
  return { id: r.id, vectorStoreId: r.vector_store_id, createdAt: r.created_at, cancelledAt: r.cancelled_at };
}

/** Counts from `SELECT status, count(*) AS n … GROUP BY status` rows. */
export function countsFrom(rows: readonly { status: string; n: number }[]): FileCounts {
  const c = { in_progress: 0, completed: 0, failed: 0, cancelled: 0, total: 0 };
  for (const r of rows) {
    if (r.status in c && r.status !== 'total') c[r.status as FileStatus] += Number(r.n);
    c.total += Number(r.n);
  }
  return c;
}
