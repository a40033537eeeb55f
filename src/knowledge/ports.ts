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
