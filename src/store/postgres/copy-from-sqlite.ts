/**
 * `baimo migrate --from sqlite`: an embedded hub's data copied into the shared store. Safe to run
 * again, or after a run cut short: every table is copied so that what is already there is
 * skipped, never doubled — usage through the port's batch write (a stored request/attempt is
 * ignored and only new rows reach the hourly totals, which are therefore rebuilt from the
 * records), the other tables with ON CONFLICT DO NOTHING on their keys, human judgements (whose
 * ids are each store's own sequence) by counting what the database already holds of each.
 */
import type { ErrorKind } from '../../core/errors.js';
import type { UsageRow } from '../../usage/ports.js';
import type { UsageRecord } from '../../usage/record.js';
import type { SQLiteStores } from '../sqlite/index.js';
import { copyEval } from './copy-eval.js';
import { copyKnowledge } from './copy-knowledge.js';
import { transaction } from './transaction.js';
import type { PostgresStores } from './index.js';

/** The settings a hub stores (tenancy/service.ts: the admin key's hash). */
export const KNOWN_SETTINGS: readonly string[] = ['admin_key_hash'];

/** Rows read from SQLite and written to PostgreSQL at a time. */
export const COPY_CHUNK = 2000;

/** What one table's copy did: rows read from SQLite, rows the database did not have yet. */
export interface TableCopy {
  readonly table: string;
  readonly read: number;
  readonly added: number;
  /** What the copy could not do for this table, in one line (vectors without pgvector). */
  readonly note?: string;
}

export interface CopyOptions {
  /** Records the data directory's journal holds but the database never got (a hub killed with SIGKILL). */
  readonly journaled?: readonly UsageRecord[];
  /** Rows per chunk (default COPY_CHUNK). */
  readonly chunk?: number;
  /** Told when a table starts and as usage goes, for the progress the CLI shows. */
  readonly progress?: (e: { readonly table: string; readonly done: number; readonly total: number }) => void;
}

/** PostgreSQL refuses NUL in text; a body captured as it came may hold one (as the usage writer does). */
function text(s: string | null): string | null {
  return s !== null && s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}

/** A NULL column as the absent field the record had. */
function opt<T>(v: T | null): T | undefined {
  return v ?? undefined;
}

/** A stored usage row as the record the hub wrote, so the port's batch write takes it as it took the original. */
export function recordFromRow(r: UsageRow): UsageRecord {
  const tokens = [r.input_tokens, r.output_tokens, r.cached_input_tokens, r.cache_write_tokens, r.reasoning_tokens];
  return {
    requestId: r.request_id,
    ts: r.ts,
    endpoint: r.endpoint as UsageRecord['endpoint'],
    model: r.model,
    provider: opt(r.provider),
    upstreamModel: opt(r.upstream_model),
    deployment: opt(r.deployment),
    attempt: r.attempt,
    final: r.final === 1,
    fallbackFrom: opt(r.fallback_from),
    keyId: opt(r.key_id),
    teamId: opt(r.team_id),
    costUsd: opt(r.cost_usd),
    usageCounted: r.usage_counted === 1,
    stream: r.stream === 1,
    status: r.status,
    errorKind: opt(r.error_kind) as ErrorKind | undefined,
    // A column the hub left empty stays empty: the writer stores an absent count as NULL.
    usage: tokens.every((t) => t === null)
      ? undefined
      : {
          inputTokens: opt(r.input_tokens) as number,
          outputTokens: opt(r.output_tokens) as number,
          cachedInputTokens: opt(r.cached_input_tokens),
          cacheWriteTokens: opt(r.cache_write_tokens),
          reasoningTokens: opt(r.reasoning_tokens),
        },
    latencyMs: r.latency_ms,
    ttftMs: opt(r.ttft_ms),
  };
}

async function count(pg: PostgresStores, table: string): Promise<number> {
  return (await pg.pool.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`)).rows[0]!.n;
}

/**
 * Copies everything the embedded store at `src` holds into `dst` (opened, schema up to date);
 * returns what each table's copy did, in the order copied. The source is only read.
 */
export async function copyFromSQLite(src: SQLiteStores, dst: PostgresStores, o: CopyOptions = {}): Promise<TableCopy[]> {
  const chunk = o.chunk ?? COPY_CHUNK;
  const progress = o.progress ?? (() => undefined);
  const done: TableCopy[] = [];
  const pool = dst.pool;

  // Settings: the source's value wins, so clients keep the admin key they had.
  let settings = 0;
  let settingsAdded = 0;
  for (const key of KNOWN_SETTINGS) {
    const value = await src.tenancy.getSetting(key);
    if (value === undefined) continue;
    settings++;
    if ((await dst.tenancy.getSetting(key)) !== value) settingsAdded++;
    await dst.tenancy.setSetting(key, value);
  }
  done.push({ table: 'settings', read: settings, added: settingsAdded });

  // Teams before keys, as a hub creates them; hashes go as they are (a key is never readable again).
  const teams = await src.tenancy.teams();
  progress({ table: 'teams', done: 0, total: teams.length });
  const teamsBefore = await count(dst, 'teams');
  for (const t of teams) await dst.tenancy.saveTeam(t);
  done.push({ table: 'teams', read: teams.length, added: (await count(dst, 'teams')) - teamsBefore });
  const keys = await src.tenancy.keys();
  progress({ table: 'keys', done: 0, total: keys.length });
  const keysBefore = await count(dst, 'keys');
  for (const k of keys) await dst.tenancy.saveKey(k);
  done.push({ table: 'keys', read: keys.length, added: (await count(dst, 'keys')) - keysBefore });

  // Usage in id order, so the request log keeps its order; then what the journal still held.
  const counts = src.usage.exportCounts();
  const usageTotal = counts.usage + (o.journaled?.length ?? 0);
  const usageBefore = await count(dst, 'usage');
  let read = 0;
  progress({ table: 'usage', done: 0, total: usageTotal });
  for (let after = 0; ; ) {
    const rows = src.usage.exportUsage(after, chunk);
    if (rows.length === 0) break;
    await dst.usage.writeUsage(rows.map(recordFromRow));
    after = rows[rows.length - 1]!.id;
    read += rows.length;
    progress({ table: 'usage', done: read, total: usageTotal });
  }
  for (let i = 0; o.journaled && i < o.journaled.length; i += chunk) {
    const batch = o.journaled.slice(i, i + chunk);
    await dst.usage.writeUsage(batch);
    read += batch.length;
    progress({ table: 'usage', done: read, total: usageTotal });
  }
  done.push({ table: 'usage', read, added: (await count(dst, 'usage')) - usageBefore });

  progress({ table: 'request_bodies', done: 0, total: counts.bodies });
  let bodies = { read: 0, added: 0 };
  for (let after = ''; ; ) {
    const rows = src.usage.exportBodies(after, chunk);
    if (rows.length === 0) break;
    const r = await pool.query(
      'INSERT INTO request_bodies (request_id, ts, request, response) SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING',
      [rows.map((b) => b.request_id), rows.map((b) => b.ts), rows.map((b) => text(b.request)), rows.map((b) => text(b.response))],
    );
    bodies = { read: bodies.read + rows.length, added: bodies.added + (r.rowCount ?? 0) };
    after = rows[rows.length - 1]!.request_id;
  }
  done.push({ table: 'request_bodies', ...bodies });

  progress({ table: 'request_traces', done: 0, total: counts.traces });
  let traces = { read: 0, added: 0 };
  for (let after = ''; ; ) {
    const rows = src.usage.exportTraces(after, chunk);
    if (rows.length === 0) break;
    const r = await pool.query(
      'INSERT INTO request_traces (request_id, ts, trace) SELECT * FROM unnest($1::text[], $2::int8[], $3::text[]) ON CONFLICT DO NOTHING',
      [rows.map((t) => t.request_id), rows.map((t) => t.ts), rows.map((t) => text(t.trace))],
    );
    traces = { read: traces.read + rows.length, added: traces.added + (r.rowCount ?? 0) };
    after = rows[rows.length - 1]!.request_id;
  }
  done.push({ table: 'request_traces', ...traces });

  // Responses with their items, each page in one transaction: a response is never there without
  // its items. Timestamps are kept, so retention treats them as the embedded hub would have.
  const rc = src.responses.exportCounts();
  progress({ table: 'responses', done: 0, total: rc.responses });
  let responses = { read: 0, added: 0 };
  let items = { read: 0, added: 0 };
  for (let after = ''; ; ) {
    const rows = src.responses.exportResponses(after, chunk);
    if (rows.length === 0) break;
    const its = rows.flatMap((r) => src.responses.exportItems(r.id));
    const [r, i] = await transaction(pool, async (client) => {
      const r = await client.query(
        'INSERT INTO responses (id, ts, key_id, response, history) SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING',
        [rows.map((x) => x.id), rows.map((x) => x.ts), rows.map((x) => x.key_id), rows.map((x) => text(x.response)), rows.map((x) => text(x.history))],
      );
      const i = await client.query(
        `INSERT INTO response_items (response_id, seq, id, input, ts, item)
         SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::int2[], $5::int8[], $6::text[]) ON CONFLICT DO NOTHING`,
        [its.map((x) => x.response_id), its.map((x) => x.seq), its.map((x) => x.id), its.map((x) => x.input), its.map((x) => x.ts), its.map((x) => text(x.item))],
      );
      return [r, i] as const;
    });
    responses = { read: responses.read + rows.length, added: responses.added + (r.rowCount ?? 0) };
    items = { read: items.read + its.length, added: items.added + (i.rowCount ?? 0) };
    after = rows[rows.length - 1]!.id;
  }
  done.push({ table: 'responses', ...responses }, { table: 'response_items', ...items });

  done.push(...(await copyEval(src, dst, chunk, progress)));

  // Uploaded files through the port, oldest first, a page at a time (each file's bytes read
  // only when the database lacks it); an expired file is gone, as the API sees it.
  const files = { read: 0, added: 0 };
  const filesTotal = (src.db.prepare('SELECT count(*) AS n FROM files').get() as { n: number }).n;
  progress({ table: 'files', done: 0, total: filesTotal });
  for (let after: string | undefined; ; ) {
    const page = await src.files.list({ owner: undefined, order: 'asc', limit: chunk, ...(after !== undefined && { after }) });
    for (const f of page.data) {
      files.read++;
      if (await dst.files.get(f.id, undefined)) continue;
      const content = await src.files.content(f.id, undefined);
      if (!content) continue; // expired between the two reads
      await dst.files.save(f, content);
      files.added++;
    }
    progress({ table: 'files', done: files.read, total: filesTotal });
    if (!page.hasMore || page.data.length === 0) break;
    after = page.data[page.data.length - 1]!.id;
  }
  done.push({ table: 'files', ...files });

  // Knowledge bases last: their files' bytes are in the database by now, so a file still
  // `in_progress` can be ingested by a shared hub as soon as it starts (copy-knowledge.ts).
  done.push(...(await copyKnowledge(src, dst, chunk, progress)));
  return done;
}
