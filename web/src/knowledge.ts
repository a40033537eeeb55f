/**
 * The Knowledge page's side of the hub's API: OpenAI's Files and Vector Stores wire types, and
 * an upload that reports its progress (fetch cannot report upload progress; XMLHttpRequest can).
 */
import { api, ApiError, authHeaders } from './api';

export interface FileCounts {
  in_progress: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
}

export interface VectorStore {
  id: string;
  name: string;
  status: 'expired' | 'in_progress' | 'completed';
  usage_bytes: number;
  file_counts: FileCounts;
  created_at: number;
  last_active_at: number | null;
  /** The hub's extension: which model embeds the chunks; null for keyword search only. */
  embedding_model?: string | null;
}

export interface VectorStoreFile {
  id: string;
  status: 'in_progress' | 'completed' | 'failed' | 'cancelled';
  usage_bytes: number;
  created_at: number;
  last_error: { code: string; message: string } | null;
}

export interface StoredFile {
  id: string;
  filename: string;
  bytes: number;
}

export interface Chunk {
  type: 'text';
  text: string;
  /** The hub's extensions: the chunk's place in its file and its size in tokens. */
  baimo_seq?: number;
  baimo_tokens?: number;
}

export interface SearchHit {
  file_id: string;
  filename: string;
  score: number;
  content: { type: 'text'; text: string }[];
}

export type SearchMode = 'keyword' | 'vector' | 'hybrid' | 'hybrid_rerank';
export const SEARCH_MODES: readonly SearchMode[] = ['hybrid_rerank', 'hybrid', 'vector', 'keyword'];

export interface Page<T> {
  data: T[];
  has_more: boolean;
}

/**
 * POST /v1/files (multipart, purpose "assistants") with `onProgress(sent, total)` as the body
 * goes out. Errors come back as ApiError with the hub's message, as api() gives them.
 */
export function uploadFile(file: File, onProgress: (sent: number, total: number) => void, signal?: AbortSignal): Promise<StoredFile> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/files');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('accept', 'application/json');
    // The events count the whole multipart body (boundaries and headers too): scaled to the file's size.
    xhr.upload.onprogress = (e) => e.lengthComputable && e.total > 0 && onProgress(Math.round((file.size * e.loaded) / e.total), file.size);
    xhr.onerror = () => reject(new ApiError('Network error while uploading.', 0, 'network'));
    xhr.onabort = () => reject(new DOMException('Upload cancelled.', 'AbortError'));
    xhr.onload = () => {
      let body: { error?: { message?: string; code?: string }; id?: string } | undefined;
      try {
        body = JSON.parse(xhr.responseText) as typeof body;
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && typeof body.id === 'string') resolve(body as unknown as StoredFile);
      else {
        // A refused key (revoked, expired) signs the console out, as api() does: asking /v1/me
        // through api() gets the same 401 and tells its listeners.
        if (xhr.status === 401) api('/v1/me').catch(() => undefined);
        reject(new ApiError(body?.error?.message ?? `${xhr.status} ${xhr.statusText}`.trim(), xhr.status, body?.error?.code ?? null));
      }
    };
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append('purpose', 'assistants');
    form.append('file', file, file.name);
    xhr.send(form);
  });
}
