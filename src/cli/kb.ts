/**
 * `baimo kb`: knowledge bases (vector stores) from the command line, against a running hub over
 * its OpenAI-shaped HTTP API (the hub holds the data directory, so the CLI cannot open it while
 * the hub runs). `create`, `add` (upload, one file batch per 2000 files, progress until ingested),
 * `ls`, `search`. Exit codes: 0 done, 1 a file failed (or the hub failed), 2 usage errors and
 * requests the hub refused (bad key, unknown store), 130 cancelled with Ctrl-C.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { HubClient, HubRequestError, HubUnreachableError, hubBaseURL } from './hub-client.js';
import { expandPaths, osReason } from './kb-files.js';
import { kbProgressWriter, size } from './kb-progress.js';

export const KB_HELP = `Usage:
  baimo kb create NAME [--embedding-model M|none] [--no-contextual-headers]
                                       make a store; prints its id
  baimo kb add STORE FILE|DIR… [--chunk-size N [--chunk-overlap N]] [--attr KEY=VALUE …]
                                       upload and ingest (directories recursively, dotfiles
                                       skipped), with progress on stderr
  baimo kb ls                          the stores and their file counts
  baimo kb search STORE QUERY… [-n N] [--mode keyword|vector|hybrid|hybrid_rerank] [--json]
  Every command takes --base-url URL (default BAIMO_URL, else http://127.0.0.1:4000) and
  --api-key KEY (default BAIMO_API_KEY): the running hub, and the key the stores belong to.
  --attr values true/false and numbers are sent as such, anything else as a string.
  Exit: 0 done · 1 a file failed or the hub failed · 2 usage error or refused · 130 cancelled
`;

class UsageError extends Error {}

/** OpenAI's bounds: a batch holds 1–2000 files; static chunks of 100–4096 tokens, overlapping by at most half. */
const MAX_BATCH = 2000;
const MIN_CHUNK = 100;
const MAX_CHUNK = 4096;
const MAX_ATTRS = 16;
const UPLOAD_CONCURRENCY = 4;
const POLL_MS = 250;
const MODES = ['keyword', 'vector', 'hybrid', 'hybrid_rerank'] as const;

const CONNECTION = { 'base-url': { type: 'string' }, 'api-key': { type: 'string' } } as const;

function clientOf(values: { 'base-url'?: string | undefined; 'api-key'?: string | undefined }): HubClient {
  try {
    return new HubClient(hubBaseURL(values['base-url'], process.env), values['api-key'] ?? process.env.BAIMO_API_KEY);
  } catch (err) {
    throw new UsageError(`--base-url: ${(err as Error).message}`);
  }
}

const storePath = (id: string) => `/v1/vector_stores/${encodeURIComponent(id)}`;

function intFlag(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}`);
  return n;
}

/** `--chunk-size N [--chunk-overlap N]` as OpenAI's static chunking strategy; the overlap defaults to half, at most 400 (OpenAI's 800/400). */
export function chunkingOf(sizeText: string | undefined, overlapText: string | undefined): Record<string, unknown> | undefined {
  const size = intFlag(sizeText, '--chunk-size', MIN_CHUNK, MAX_CHUNK);
  if (size === undefined) {
    if (overlapText !== undefined) throw new UsageError('--chunk-overlap needs --chunk-size');
    return undefined;
  }
  const overlap = intFlag(overlapText, '--chunk-overlap', 0, Math.floor(size / 2)) ?? Math.min(400, Math.floor(size / 2));
  return { type: 'static', static: { max_chunk_size_tokens: size, chunk_overlap_tokens: overlap } };
}

/** `--attr k=v …` as the attributes of every file added: `true`/`false` and numbers typed, so filters can compare them. */
export function attributesOf(pairs: readonly string[]): Record<string, string | number | boolean> | undefined {
  if (pairs.length === 0) return undefined;
  if (pairs.length > MAX_ATTRS) throw new UsageError(`at most ${MAX_ATTRS} --attr pairs`);
  const out: Record<string, string | number | boolean> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (eq < 1 || key.length > 64) throw new UsageError(`--attr ${JSON.stringify(pair.slice(0, 80))}: expected KEY=VALUE with a key of 1 to 64 characters`);
    if (value.length > 512) throw new UsageError(`--attr ${key}: the value is longer than 512 characters`);
    out[key] = value === 'true' ? true : value === 'false' ? false : /^-?\d+(\.\d+)?$/.test(value) && Number.isFinite(Number(value)) ? Number(value) : value;
  }
  return out;
}

interface Counts {
  readonly in_progress: number;
  readonly completed: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly total: number;
}
interface StoreObject {
  readonly id: string;
  readonly name: string | null;
  readonly usage_bytes: number;
  readonly file_counts: Counts;
  readonly status: string;
  readonly embedding_model?: string | null;
}
interface BatchObject {
  readonly id: string;
  readonly status: string;
  readonly file_counts: Counts;
}
interface StoreFile {
  readonly id: string;
  readonly status: string;
  readonly last_error: { readonly code: string; readonly message: string } | null;
}
interface Page<T> {
  readonly data: T[];
  readonly has_more: boolean;
  readonly last_id: string | null;
}

async function create(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...CONNECTION, 'embedding-model': { type: 'string' }, 'no-contextual-headers': { type: 'boolean' } },
  });
  if (positionals.length !== 1) throw new UsageError('give exactly one NAME');
  const model = values['embedding-model'];
  const store = await clientOf(values).json<StoreObject>('POST', '/v1/vector_stores', {
    name: positionals[0],
    // `none`: keyword search only, even where the hub has a default embedding model.
    ...(model !== undefined && { embedding_model: model === 'none' ? null : model }),
    ...(values['no-contextual-headers'] && { contextual_headers: false }),
  });
  process.stdout.write(`${store.id}\n`);
  return 0;
}

async function ls(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: CONNECTION });
  const client = clientOf(values);
  const stores: StoreObject[] = [];
  for (let after: string | null = null; ; ) {
    const page: Page<StoreObject> = await client.json('GET', `/v1/vector_stores?limit=100&order=asc${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    stores.push(...page.data);
    if (!page.has_more || !page.last_id) break;
    after = page.last_id;
  }
  if (stores.length === 0) {
    process.stderr.write('no vector stores (make one with `baimo kb create NAME`)\n');
    return 0;
  }
  const rows = stores.map((s) => {
    const c = s.file_counts;
    const extra = [c.in_progress && `${c.in_progress} in progress`, c.failed && `${c.failed} failed`, c.cancelled && `${c.cancelled} cancelled`].filter(Boolean).join(', ');
    return [s.id, s.name ?? '', `${c.completed}/${c.total}${extra ? ` (${extra})` : ''}`, size(s.usage_bytes), s.embedding_model ?? 'keyword only', s.status];
  });
  const head = ['ID', 'NAME', 'FILES', 'SIZE', 'EMBEDDING', 'STATUS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) process.stdout.write(`${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
  return 0;
}

/** A hit's text on one line: whitespace collapsed, cut at `max` characters (code points, so no CJK character is split). */
export function snippet(text: string, max = 100): string {
  const flat = Array.from(text.replace(/\s+/g, ' ').trim());
  return flat.length > max ? `${flat.slice(0, max - 1).join('')}…` : flat.join('');
}

async function search(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...CONNECTION, n: { type: 'string', short: 'n' }, mode: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [store, ...words] = positionals;
  const query = words.join(' ').trim();
  if (!store || !query) throw new UsageError('give a STORE and a QUERY');
  const n = intFlag(values.n, '-n', 1, 50) ?? 10;
  const mode = values.mode;
  if (mode !== undefined && !(MODES as readonly string[]).includes(mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}`);
  type Hit = { file_id: string; filename: string; score: number; content: { type: string; text: string }[] };
  const r = await clientOf(values).json<{ data: Hit[] }>('POST', `${storePath(store)}/search`, { query, max_num_results: n, ...(mode && { baimo_mode: mode }) });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  if (r.data.length === 0) process.stderr.write('no results\n');
  const width = Math.max(0, ...r.data.map((h) => h.filename.length));
  for (const h of r.data) process.stdout.write(`${h.score.toFixed(3)}  ${h.filename.padEnd(width)}  ${snippet(h.content.map((c) => c.text).join(' '))}\n`);
  return 0;
}

/** One local file on its way into the store. */
interface Item {
  readonly path: string;
  readonly bytes: number;
  fileId?: string;
  /** Why it failed before the hub ingested it (unreadable, refused at upload), or the hub's last_error. */
  error?: string;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

async function add(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...CONNECTION, 'chunk-size': { type: 'string' }, 'chunk-overlap': { type: 'string' }, attr: { type: 'string', multiple: true } },
  });
  const [store, ...paths] = positionals;
  if (!store || paths.length === 0) throw new UsageError('give a STORE and at least one FILE or DIR');
  const chunking = chunkingOf(values['chunk-size'], values['chunk-overlap']);
  const attributes = attributesOf(values.attr ?? []);
  const client = clientOf(values);
  // The store first: a wrong key or store id is said before anything is uploaded.
  await client.json<StoreObject>('GET', storePath(store));

  const err = process.stderr;
  const { files, dirs } = expandPaths(paths);
  for (const d of dirs) err.write(`${d.path}: ${d.count} file${d.count === 1 ? '' : 's'}\n`);
  if (files.length === 0) {
    err.write('nothing to add\n');
    return 0;
  }
  const items: Item[] = files.map((f) => ('error' in f ? { path: f.path, bytes: 0, error: f.error } : { path: f.path, bytes: f.bytes }));

  const stop = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    // A second Ctrl-C leaves at once, without waiting for the hub to confirm the cancel.
    if (++interrupts > 1) process.exit(130);
    err.write('\nSIGINT: cancelling (Ctrl-C again to quit at once)\n');
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  const progress = kbProgressWriter(err);
  const started = Date.now();
  let uploadedBytes = 0;
  const batches = new Map<string, BatchObject>();
  const failedSeen = new Set<string>();
  const byFileId = new Map<string, Item>();
  // Failed before reaching a batch (unreadable, refused at upload): batch counts hold the others.
  const localFailed = () => items.filter((i) => i.error !== undefined && i.fileId === undefined).length;
  const show = () => {
    const local = localFailed();
    let paced = 0;
    let failed = local;
    for (const b of batches.values()) {
      paced += b.file_counts.completed + b.file_counts.failed + b.file_counts.cancelled;
      failed += b.file_counts.failed;
    }
    progress.update({ done: local + paced, paced, total: items.length, failed, bytes: uploadedBytes, elapsedMs: Date.now() - started });
  };

  try {
    // Upload, four at a time; a file that fails locally or is refused is noted and the rest go on.
    const queue = items.filter((i) => i.error === undefined);
    const total = queue.reduce((n, i) => n + i.bytes, 0);
    err.write(`uploading ${queue.length} file${queue.length === 1 ? '' : 's'} (${size(total)})\n`);
    show();
    // Not aborted on Ctrl-C: an upload cut off may still be stored by the hub, unknown to us and
    // never deleted; the few in flight finish and are deleted with the rest.
    await inPool(queue, UPLOAD_CONCURRENCY, () => stop.signal.aborted, async (item) => {
      try {
        const bytes = await readFile(item.path);
        const f = await client.upload<{ id: string }>(basename(item.path), bytes, 'assistants');
        item.fileId = f.id;
        uploadedBytes += bytes.byteLength;
      } catch (e) {
        // The hub gone or the key revoked: no other file would fare better.
        if (e instanceof HubUnreachableError || (e instanceof HubRequestError && e.status === 401)) throw e;
        const why = e instanceof HubRequestError ? `upload refused (${e.status}${e.code ? ` ${e.code}` : ''}): ${e.message}` : osReason(e);
        item.error = why;
        progress.note(`failed: ${item.path}: ${why}`);
      }
      show();
    });
    const uploaded = queue.filter((i) => i.fileId !== undefined);
    if (stop.signal.aborted) {
      // Nothing was added to the store yet: the files uploaded so far are removed from Files again.
      await inPool(uploaded, UPLOAD_CONCURRENCY, () => false, (i) => client.json('DELETE', `/v1/files/${encodeURIComponent(i.fileId!)}`).catch(() => undefined));
      progress.end();
      err.write(`cancelled during upload: nothing was added to ${store}\n`);
      return 130;
    }

    // One batch per 2000 files (OpenAI's bound); each file's chunks and attributes as given.
    for (let i = 0; i < uploaded.length; i += MAX_BATCH) {
      const part = uploaded.slice(i, i + MAX_BATCH);
      const b = await client.json<BatchObject>('POST', `${storePath(store)}/file_batches`, {
        file_ids: part.map((p) => p.fileId),
        ...(attributes && { attributes }),
        ...(chunking && { chunking_strategy: chunking }),
      });
      for (const p of part) byFileId.set(p.fileId!, p);
      batches.set(b.id, b);
      progress.note(`batch ${b.id}: ${part.length} file${part.length === 1 ? '' : 's'} ingesting`);
      if (stop.signal.aborted) break;
    }

    // Poll the batches (their counts) and, when their failures grow, their failed files (the reasons).
    while (!stop.signal.aborted && [...batches.values()].some((b) => b.status === 'in_progress')) {
      show();
      await sleep(POLL_MS, stop.signal);
      if (stop.signal.aborted) break;
      for (const [id, old] of batches) {
        if (old.status !== 'in_progress') continue;
        const b = await client.json<BatchObject>('GET', `${storePath(store)}/file_batches/${id}`);
        batches.set(id, b);
        if (b.file_counts.failed > old.file_counts.failed) await collectFailures(client, store, id, byFileId, failedSeen, progress.note);
      }
    }

    if (stop.signal.aborted) {
      // Files uploaded for a batch Ctrl-C came before (past the first 2000): removed from Files again.
      const unbatched = uploaded.filter((i) => !byFileId.has(i.fileId!));
      await inPool(unbatched, UPLOAD_CONCURRENCY, () => false, (i) => client.json('DELETE', `/v1/files/${encodeURIComponent(i.fileId!)}`).catch(() => undefined));
      for (const [id, b] of batches) {
        if (b.status !== 'in_progress') continue;
        try {
          const c = await client.json<BatchObject>('POST', `${storePath(store)}/file_batches/${id}/cancel`);
          batches.set(id, c);
          progress.note(`cancelled batch ${id}: ${c.file_counts.completed} completed, ${c.file_counts.cancelled} cancelled, ${c.file_counts.failed} failed`);
        } catch (e) {
          progress.note(`error: could not cancel batch ${id}: ${(e as Error).message}`);
        }
      }
      show();
      progress.end();
      return 130;
    }
    // Every failure's reason, whether or not a poll saw its count grow (a batch may finish between polls).
    for (const [id, b] of batches) if (b.file_counts.failed > 0) await collectFailures(client, store, id, byFileId, failedSeen, progress.note);
    show();
    progress.end();
  } finally {
    process.off('SIGINT', onSigint);
  }

  const failures = items.filter((i) => i.error !== undefined);
  let completed = 0;
  let cancelled = 0;
  for (const b of batches.values()) {
    completed += b.file_counts.completed;
    cancelled += b.file_counts.cancelled;
  }
  const out = process.stdout;
  out.write(`${store}: ${completed} of ${items.length} file${items.length === 1 ? '' : 's'} added, ${failures.length} failed${cancelled ? `, ${cancelled} cancelled` : ''}\n`);
  for (const f of failures) out.write(`  failed  ${f.path}: ${f.error}\n`);
  return completed === items.length ? 0 : 1;
}

/**
 * `fn` over `xs`, at most `n` at a time, starting no more once `halted()`; the first error stops
 * every worker from starting another and is thrown once those running have ended.
 */
async function inPool<T>(xs: readonly T[], n: number, halted: () => boolean, fn: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < xs.length && !failed && !halted()) {
      try {
        await fn(xs[next++]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(n, xs.length) }, worker));
  const rejected = results.find((r) => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}


/** The batch's failed files not yet seen, with the hub's last_error, noted on their items. */
async function collectFailures(client: HubClient, store: string, batchId: string, byFileId: Map<string, Item>, seen: Set<string>, note: (line: string) => void): Promise<void> {
  for (let after: string | null = null; ; ) {
    const page: Page<StoreFile> = await client.json('GET', `${storePath(store)}/file_batches/${batchId}/files?filter=failed&order=asc&limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    for (const f of page.data) {
      if (seen.has(f.id)) continue;
      seen.add(f.id);
      const item = byFileId.get(f.id);
      if (!item) continue;
      item.error = f.last_error ? `${f.last_error.code}: ${f.last_error.message}` : 'failed (the hub gave no reason)';
      note(`failed: ${item.path}: ${item.error}`);
    }
    if (!page.has_more || !page.last_id) return;
    after = page.last_id;
  }
}

/** `baimo kb …`; returns the exit code. */
export async function kbCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'create':
        return await create(rest);
      case 'add':
        return await add(rest);
      case 'ls':
        return await ls(rest);
      case 'search':
        return await search(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(KB_HELP);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown kb command '${sub}'`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`error: ${(err as Error).message}\n\n${KB_HELP}`);
      return 2;
    }
    if (err instanceof HubRequestError) {
      // Refused as asked (bad key, unknown store, invalid value): the user's to fix, like a usage error.
      process.stderr.write(`error: ${err.message}\n`);
      return err.status < 500 ? 2 : 1;
    }
    if (err instanceof HubUnreachableError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
