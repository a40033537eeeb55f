import pg from 'pg';
import { DataDirError } from '../data-dir.js';
import { LIMITS_SCHEMA } from './limits-schema.js';

/**
 * The shared store's schema in PostgreSQL: versioned migrations, applied in order when a hub
 * opens the database, under an advisory lock so that replicas starting together apply each one
 * once. Columns mirror the embedded store's (store/sqlite/schema.ts), so that the ports return
 * the same rows whichever backend answers.
 */

/**
 * Migration 6's text (the usage rollups), frozen as the migration is. Each rollup sums the hourly
 * totals over longer spans (ms, aligned to the epoch: a span's rows start at multiples of it),
 * keyed by some of their labels: `usage_rollup` by every label over 6 hours, a day and a week
 * (the hours are usage_hourly's); `usage_rollup_key` by key, team, model and status over an hour, 6
 * hours, a day and a week; `usage_rollup_model` by model, provider and status over an hour and a day.
 */
const ROLLUPS = [
  { table: 'usage_rollup', labels: ['key_id', 'team_id', 'model', 'provider', 'deployment', 'status', 'final'], spans: [21_600_000, 86_400_000, 604_800_000] },
  { table: 'usage_rollup_key', labels: ['key_id', 'team_id', 'model', 'status', 'final'], spans: [3_600_000, 21_600_000, 86_400_000, 604_800_000] },
  { table: 'usage_rollup_model', labels: ['model', 'provider', 'status', 'final'], spans: [3_600_000, 86_400_000] },
] as const;
const HOURLY_LABELS = ['key_id', 'team_id', 'model', 'provider', 'deployment', 'status', 'final'];
const HOURLY_SUMS = ['requests', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cost_usd', 'latency_ms_sum', 'ttft_ms_sum', 'ttft_count'];

/** The rows of `table` (usage_hourly or a transition table of it), their sums negated with sign '-'. */
function hourlyRows(table: string, sign: '' | '-'): string {
  return `SELECT hour, ${HOURLY_LABELS.join(', ')}, ${HOURLY_SUMS.map((c) => sign + c).join(', ')} FROM ${table}`;
}

/** The spans of `r` as a relation to cross-join. */
function spans(r: (typeof ROLLUPS)[number]): string {
  return `(VALUES ${r.spans.map((s) => `(${s}::int8)`).join(', ')}) AS s (span)`;
}

/** Adds `source`'s hourly rows, summed per span and label set, to rollup `r`: in key order, as the batch write upserts. */
function rollupUpsert(r: (typeof ROLLUPS)[number], source: string): string {
  const keys = r.labels.length + 2;
  const order = Array.from({ length: keys }, (_, i) => i + 1).join(', ');
  return `INSERT INTO ${r.table} AS r
       SELECT s.span, h.hour - h.hour % s.span, ${r.labels.map((l) => `h.${l}`).join(', ')}, ${HOURLY_SUMS.map((c) => `SUM(h.${c})`).join(', ')}
       FROM (${source}) AS h (hour, ${HOURLY_LABELS.join(', ')}, ${HOURLY_SUMS.join(', ')}) CROSS JOIN ${spans(r)}
       GROUP BY ${order} ORDER BY ${order}
       ON CONFLICT (span, start, ${r.labels.join(', ')}) DO UPDATE SET ${HOURLY_SUMS.map((c) => `${c} = r.${c} + excluded.${c}`).join(', ')}`;
}

/** Drops the rows of rollup `r` that the deleted hourly rows (old_rows) emptied: no hour is left under them. */
function rollupDropEmptied(r: (typeof ROLLUPS)[number]): string {
  const cols = ['span', 'start', ...r.labels];
  return `DELETE FROM ${r.table} AS r
       USING (SELECT DISTINCT s.span, o.hour - o.hour % s.span AS start, ${r.labels.map((l) => `o.${l}`).join(', ')} FROM old_rows AS o CROSS JOIN ${spans(r)}) AS o
       WHERE (${cols.map((c) => `r.${c}`).join(', ')}) = (${cols.map((c) => `o.${c}`).join(', ')}) AND r.requests = 0`;
}

/**
 * A rollup's table: its span and start, then its labels and the hourly totals' sums. Half of each
 * page is left free: the rows of the current spans are updated by every batch, and an update that
 * finds room on its page is a heap-only one (no index touched, the old version pruned in place).
 */
function rollupTable(r: (typeof ROLLUPS)[number]): string {
  const types: Record<string, string> = { status: 'INTEGER', final: 'SMALLINT' };
  const sums: Record<string, string> = { cost_usd: 'DOUBLE PRECISION', latency_ms_sum: 'DOUBLE PRECISION', ttft_ms_sum: 'DOUBLE PRECISION' };
  return `CREATE TABLE ${r.table} (
     span BIGINT NOT NULL,
     start BIGINT NOT NULL,
     ${r.labels.map((l) => `${l} ${types[l] ?? 'TEXT'} NOT NULL,`).join('\n     ')}
     ${HOURLY_SUMS.map((c) => `${c} ${sums[c] ?? 'BIGINT'} NOT NULL,`).join('\n     ')}
     PRIMARY KEY (span, start, ${r.labels.join(', ')})
   ) WITH (fillfactor = 50)`;
}

/** The most positions a tsvector keeps per lexeme: the largest term frequency a chunk can have. */
const MAX_TF = 255;

/** Each entry upgrades the schema by one version. Never edit a shipped one; add another. */
export const MIGRATIONS: readonly string[] = [
  // Usage records. `id` orders the request log (newest first); the partial indexes serve its
  // filters on final records, each walked backwards from the newest id.
  `CREATE TABLE usage (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     request_id TEXT NOT NULL,
     ts BIGINT NOT NULL,
     endpoint TEXT NOT NULL,
     model TEXT NOT NULL,
     provider TEXT,
     upstream_model TEXT,
     stream SMALLINT NOT NULL,
     status INTEGER NOT NULL,
     error_kind TEXT,
     input_tokens BIGINT,
     output_tokens BIGINT,
     cached_input_tokens BIGINT,
     cache_write_tokens BIGINT,
     reasoning_tokens BIGINT,
     latency_ms DOUBLE PRECISION NOT NULL,
     ttft_ms DOUBLE PRECISION,
     deployment TEXT,
     attempt INTEGER NOT NULL,
     final SMALLINT NOT NULL,
     fallback_from TEXT,
     key_id TEXT,
     team_id TEXT,
     cost_usd DOUBLE PRECISION,
     usage_counted SMALLINT NOT NULL DEFAULT 0,
     -- A replayed journal may repeat records: they are ignored. Also serves lookups by request id.
     CONSTRAINT usage_request_attempt UNIQUE (request_id, attempt, final)
   );
   CREATE INDEX usage_ts ON usage (ts);
   CREATE INDEX usage_log_key ON usage (key_id, id) WHERE final = 1;
   CREATE INDEX usage_log_model ON usage (model, id) WHERE final = 1;
   CREATE INDEX usage_log_status ON usage (status, id) WHERE final = 1;
   CREATE INDEX usage_log_errors ON usage (id) WHERE final = 1 AND status >= 400;
   -- Hourly totals, kept in step with usage by every batch write: usage queries and spend read
   -- these, so they stay fast however many records there are.
   CREATE TABLE usage_hourly (
     hour BIGINT NOT NULL,
     key_id TEXT NOT NULL,
     team_id TEXT NOT NULL,
     model TEXT NOT NULL,
     provider TEXT NOT NULL,
     deployment TEXT NOT NULL,
     status INTEGER NOT NULL,
     final SMALLINT NOT NULL,
     requests BIGINT NOT NULL,
     input_tokens BIGINT NOT NULL,
     output_tokens BIGINT NOT NULL,
     cached_input_tokens BIGINT NOT NULL,
     cache_write_tokens BIGINT NOT NULL,
     reasoning_tokens BIGINT NOT NULL,
     cost_usd DOUBLE PRECISION NOT NULL,
     latency_ms_sum DOUBLE PRECISION NOT NULL,
     ttft_ms_sum DOUBLE PRECISION NOT NULL,
     ttft_count BIGINT NOT NULL,
     PRIMARY KEY (hour, key_id, team_id, model, provider, deployment, status, final)
   );
   CREATE INDEX usage_hourly_key ON usage_hourly (key_id, hour);
   CREATE INDEX usage_hourly_team ON usage_hourly (team_id, hour);
   CREATE TABLE request_bodies (
     request_id TEXT PRIMARY KEY,
     ts BIGINT NOT NULL,
     request TEXT NOT NULL,
     response TEXT NOT NULL
   );
   CREATE INDEX request_bodies_ts ON request_bodies (ts);
   CREATE TABLE request_traces (request_id TEXT PRIMARY KEY, ts BIGINT NOT NULL, trace TEXT NOT NULL);
   CREATE INDEX request_traces_ts ON request_traces (ts);`,
  // Keys, teams and settings. No foreign key from keys to teams: a team may be deleted while
  // revoked keys still name it, as in the embedded store.
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE teams (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     limits TEXT NOT NULL,
     metadata TEXT NOT NULL,
     created_at BIGINT NOT NULL
   );
   CREATE TABLE keys (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     name TEXT NOT NULL,
     team_id TEXT,
     limits TEXT NOT NULL,
     expires_at BIGINT,
     metadata TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     revoked_at BIGINT
   );`,
  // Responses API objects and their items (`input` 1 for the request's input items, 0 for the
  // response's output items). JSON is kept as text: returned as the hub wrote it.
  `CREATE TABLE responses (
     id TEXT PRIMARY KEY,
     ts BIGINT NOT NULL,
     key_id TEXT,
     response TEXT NOT NULL,
     history TEXT NOT NULL
   );
   CREATE INDEX responses_ts ON responses (ts);
   CREATE TABLE response_items (
     response_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     id TEXT NOT NULL,
     input SMALLINT NOT NULL,
     ts BIGINT NOT NULL,
     item TEXT NOT NULL,
     PRIMARY KEY (response_id, seq)
   );
   CREATE INDEX response_items_id ON response_items (id, ts DESC);
   CREATE INDEX response_items_ts ON response_items (ts);`,
  `CREATE TABLE arena_votes (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     ts BIGINT NOT NULL,
     model_a TEXT NOT NULL,
     model_b TEXT NOT NULL,
     winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'bad')),
     key_id TEXT
   );`,
  // Rate limits and budget reservations shared through the database when there is no Redis.
  LIMITS_SCHEMA,
  // Usage rollups: the hourly totals summed over longer spans, so that a month is read from a few
  // dozen rows per label set (weeks, days, quarter-days, then the stray hours) rather than 720,
  // and summed over fewer labels, so that a query needing no provider or deployment (or no key and
  // team either) reads fewer label sets. The database keeps them in step itself, by statement
  // triggers on usage_hourly in the writer's own transaction: whoever changes the hourly totals —
  // this hub's batches, a hub of the previous version still running through a rolling upgrade,
  // pruning — changes the rollups with them, so that a span's row always equals the sum of its
  // hours'. Each trigger adds one grouped upsert per rollup, in key order (as the batch write
  // upserts the hourly totals, so concurrent writers cannot deadlock on them); an update adds the
  // difference the statement made, a delete subtracts and drops the rows no hour is left under.
  // Created before the backfill: the trigger's lock waits for writers in flight and holds new ones
  // back until this commits, so no write is missed or counted twice (batch writes wait meanwhile:
  // about a minute per million hourly rows on a small server; the recorder's journal holds them).
  // The hourly totals' pages get the same free half as the rollups' (from now on: existing pages
  // stay as they are), for the same reason: measured, the batch write with the triggers ingests
  // about twice as fast with it.
  `ALTER TABLE usage_hourly SET (fillfactor = 50);
   ${rollupTable(ROLLUPS[0])};
   CREATE INDEX usage_rollup_by_key ON usage_rollup (key_id, span, start);
   CREATE INDEX usage_rollup_by_team ON usage_rollup (team_id, span, start);
   ${rollupTable(ROLLUPS[1])};
   CREATE INDEX usage_rollup_key_by_key ON usage_rollup_key (key_id, span, start);
   CREATE INDEX usage_rollup_key_by_team ON usage_rollup_key (team_id, span, start);
   ${rollupTable(ROLLUPS[2])};
   CREATE FUNCTION usage_rollup_follow() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     -- The hourly rows a statement left (new_rows) count in, those it replaced or removed (old_rows) out.
     IF TG_OP = 'INSERT' THEN
       ${ROLLUPS.map((r) => `${rollupUpsert(r, hourlyRows('new_rows', ''))};`).join('\n       ')}
     ELSIF TG_OP = 'UPDATE' THEN
       ${ROLLUPS.map((r) => `${rollupUpsert(r, `${hourlyRows('new_rows', '')} UNION ALL ${hourlyRows('old_rows', '-')}`)};`).join('\n       ')}
     ELSE
       ${ROLLUPS.map((r) => `${rollupUpsert(r, hourlyRows('old_rows', '-'))};\n       ${rollupDropEmptied(r)};`).join('\n       ')}
     END IF;
     RETURN NULL;
   END $$;
   CREATE TRIGGER usage_rollup_insert AFTER INSERT ON usage_hourly REFERENCING NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_follow();
   CREATE TRIGGER usage_rollup_update AFTER UPDATE ON usage_hourly REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_follow();
   CREATE TRIGGER usage_rollup_delete AFTER DELETE ON usage_hourly REFERENCING OLD TABLE AS old_rows
     FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_follow();
   ${ROLLUPS.map((r) => `${rollupUpsert(r, hourlyRows('usage_hourly', ''))};`).join('\n   ')}`,
  // The request log filtered by key and model: walked from the pair's newest record, rather than
  // through all of the key's records, which for a busy key and a model it seldom calls (or never)
  // is hundreds of thousands of rows to reach a page.
  `CREATE INDEX usage_log_key_model ON usage (key_id, model, id) WHERE final = 1;`,
  // Files uploaded through the Files API (knowledge/ports.ts), as in the embedded store: bytes
  // inline (BYTEA, TOASTed out of line by PostgreSQL), paged by (created_at, id) within an owner.
  `CREATE TABLE files (
     id TEXT PRIMARY KEY,
     key_id TEXT,
     filename TEXT NOT NULL,
     purpose TEXT NOT NULL,
     bytes BIGINT NOT NULL,
     created_at BIGINT NOT NULL,
     expires_at BIGINT,
     content BYTEA NOT NULL
   );
   CREATE INDEX files_key_created ON files (key_id, created_at, id);
   CREATE INDEX files_created ON files (created_at, id);`,
  // The chunk index's keyword half (store/postgres/knowledge-index.ts): each chunk's segmented
  // words as a tsvector (one lexeme per word, built by the writer rather than by to_tsvector,
  // whose parser would cut the words again), GIN-indexed; `words` is its length for BM25, and
  // the per-store statistics (chunks, words) give N and the average length without a count. The
  // primary key serves a store's and a file's chunks. Every query reads each candidate's
  // tsvector, so it is kept in the row, uncompressed while it fits (STORAGE MAIN, and a tuple
  // target of half a page, so the text moves out of line first): TOASTed, each candidate costs a
  // TOAST fetch and a decompression: a query took about four times as long (bench/results/knowledge-index-pg.md).
  // Vectors are not here: their table and indexes need pgvector and are created on first use.
  `CREATE TABLE knowledge_chunks (
     vector_store_id TEXT NOT NULL,
     file_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     text TEXT NOT NULL,
     tokens INTEGER NOT NULL,
     words INTEGER NOT NULL,
     tsv TSVECTOR NOT NULL,
     PRIMARY KEY (vector_store_id, file_id, seq)
   ) WITH (toast_tuple_target = 4080);
   ALTER TABLE knowledge_chunks ALTER COLUMN tsv SET STORAGE MAIN;
   CREATE INDEX knowledge_chunks_tsv ON knowledge_chunks USING GIN (tsv);
   CREATE TABLE knowledge_index_stats (
     vector_store_id TEXT PRIMARY KEY,
     chunks BIGINT NOT NULL,
     words BIGINT NOT NULL
   );`,
  // Vector stores (knowledge/ports.ts VectorStoreStore): the stores, the files each holds with
  // their ingestion state (a file `in_progress` is a job; lease_until, unix ms, says until when a
  // runner holds it), and the batches files came in. Deleting a store deletes the rest with it.
  `CREATE TABLE vector_stores (
     id TEXT PRIMARY KEY,
     key_id TEXT,
     name TEXT NOT NULL,
     metadata TEXT,
     created_at BIGINT NOT NULL,
     last_active_at BIGINT NOT NULL,
     expires_after_days BIGINT,
     expires_at BIGINT,
     embedding_model TEXT,
     contextual_headers BOOLEAN NOT NULL
   );
   CREATE INDEX vector_stores_key_created ON vector_stores (key_id, created_at, id);
   CREATE INDEX vector_stores_created ON vector_stores (created_at, id);
   CREATE TABLE vector_store_files (
     vector_store_id TEXT NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
     file_id TEXT NOT NULL,
     filename TEXT NOT NULL,
     key_id TEXT,
     created_at BIGINT NOT NULL,
     status TEXT NOT NULL,
     error_code TEXT,
     error_message TEXT,
     attributes TEXT,
     max_tokens BIGINT NOT NULL,
     overlap_tokens BIGINT NOT NULL,
     usage_bytes BIGINT NOT NULL DEFAULT 0,
     batch_id TEXT,
     lease_until BIGINT NOT NULL DEFAULT 0,
     PRIMARY KEY (vector_store_id, file_id)
   );
   CREATE INDEX vector_store_files_created ON vector_store_files (vector_store_id, created_at, file_id);
   CREATE INDEX vector_store_files_batch ON vector_store_files (batch_id) WHERE batch_id IS NOT NULL;
   CREATE INDEX vector_store_files_jobs ON vector_store_files (lease_until) WHERE status = 'in_progress';
   CREATE TABLE vector_store_file_batches (
     id TEXT PRIMARY KEY,
     vector_store_id TEXT NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
     created_at BIGINT NOT NULL,
     cancelled_at BIGINT
   );`,
  // Stored eval runs (eval/ports.ts): a run, and its results one row per cell as they finish.
  `CREATE TABLE eval_runs (
     id TEXT PRIMARY KEY,
     key_id TEXT,
     description TEXT,
     suite TEXT NOT NULL,
     options TEXT NOT NULL,
     status TEXT NOT NULL,
     stop_reason TEXT,
     error TEXT,
     planned BIGINT NOT NULL,
     done BIGINT NOT NULL DEFAULT 0,
     failures BIGINT NOT NULL DEFAULT 0,
     spent_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
     created_at BIGINT NOT NULL,
     started_at BIGINT,
     finished_at BIGINT,
     lease_until BIGINT NOT NULL DEFAULT 0,
     cancel_requested BIGINT NOT NULL DEFAULT 0
   );
   CREATE INDEX eval_runs_key_created ON eval_runs (key_id, created_at, id);
   CREATE INDEX eval_runs_created ON eval_runs (created_at, id);
   CREATE INDEX eval_runs_unfinished ON eval_runs (status) WHERE status IN ('queued', 'running');
   CREATE TABLE eval_results (
     run_id TEXT NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
     cell_key TEXT NOT NULL,
     test_idx BIGINT NOT NULL,
     prompt_idx BIGINT NOT NULL,
     provider_idx BIGINT NOT NULL,
     repeat BIGINT NOT NULL,
     success BOOLEAN NOT NULL,
     score DOUBLE PRECISION NOT NULL,
     cost_usd DOUBLE PRECISION,
     latency_ms DOUBLE PRECISION NOT NULL,
     cell TEXT NOT NULL,
     PRIMARY KEY (run_id, cell_key)
   );
   CREATE INDEX eval_results_order ON eval_results (run_id, test_idx, prompt_idx, provider_idx, repeat);`,
  // The chunk index's document frequencies (store/postgres/knowledge-index.ts): per store, how many
  // chunks hold each word, kept in step by every write, so that a search learns a common word's
  // frequency without reading its tens of thousands of chunks. Filled here from the chunks so far.
  `CREATE TABLE knowledge_index_terms (
     vector_store_id TEXT NOT NULL,
     word TEXT NOT NULL,
     chunks BIGINT NOT NULL,
     PRIMARY KEY (vector_store_id, word)
   );
   INSERT INTO knowledge_index_terms (vector_store_id, word, chunks)
   SELECT c.vector_store_id, u.lexeme, count(*) FROM knowledge_chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u GROUP BY 1, 2;`,
  // Human judgements (eval/ports.ts JudgementStore), as in the embedded store: the arena's votes
  // with the prompt and the two answers as the voter saw them. The old votes move in keeping their
  // ids (the leaderboard depends on the order cast), the sequence set past them. `arena_votes`
  // stays as a view over the new table, which PostgreSQL lets a hub of the previous version insert
  // into and read through, so replicas not yet upgraded keep their votes during a rolling upgrade.
  `CREATE TABLE eval_judgements (
     seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
     ts BIGINT NOT NULL,
     key_id TEXT,
     model_a TEXT NOT NULL,
     model_b TEXT NOT NULL,
     winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'bad')),
     prompt TEXT,
     answer_a TEXT,
     answer_b TEXT
   );
   LOCK TABLE arena_votes IN EXCLUSIVE MODE;
   INSERT INTO eval_judgements (seq, ts, key_id, model_a, model_b, winner)
     SELECT id, ts, key_id, model_a, model_b, winner FROM arena_votes ORDER BY id;
   -- Indexed once filled: built from the sorted rows, not grown a row at a time (2-2.5x faster on a big table).
   CREATE INDEX eval_judgements_key ON eval_judgements (key_id, seq);
   CREATE INDEX eval_judgements_model_a ON eval_judgements (model_a, seq);
   CREATE INDEX eval_judgements_model_b ON eval_judgements (model_b, seq);
   SELECT setval(pg_get_serial_sequence('eval_judgements', 'seq'), COALESCE((SELECT max(seq) FROM eval_judgements), 0) + 1, false);
   DROP TABLE arena_votes;
   CREATE VIEW arena_votes AS SELECT seq AS id, ts, model_a, model_b, winner, key_id FROM eval_judgements;`,
  // A run's sums per model (eval/ports.ts RunSums), kept by each result's write, so a run's
  // status and stats never read its cells. Runs stored before are summed from their cells on first
  // read (their sums cover fewer cells than the run's `done`).
  `CREATE TABLE eval_run_models (
     run_id TEXT NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
     provider_idx BIGINT NOT NULL,
     cells BIGINT NOT NULL,
     successes BIGINT NOT NULL,
     errors BIGINT NOT NULL,
     score_sum DOUBLE PRECISION NOT NULL,
     cost_sum DOUBLE PRECISION NOT NULL,
     answered BIGINT NOT NULL,
     cases BIGINT NOT NULL,
     passed BIGINT NOT NULL,
     PRIMARY KEY (run_id, provider_idx)
   );`,
  // Fair ingestion (store/postgres/vector-stores.ts, claim): each key's turn, the order in which
  // keys' jobs were last claimed (higher: served more recently; '' is the admin or an open hub),
  // so the next job is the oldest of the key served least recently, across every replica.
  `CREATE TABLE knowledge_ingest_turns (
     owner TEXT PRIMARY KEY,
     turn BIGINT NOT NULL
   );`,
  // Tighter MaxScore bounds for keyword search (store/postgres/knowledge-index.ts): per store, the
  // most times a word occurs in one chunk and the fewest words in a chunk. Both only ever move
  // outward (a greater maximum, a smaller minimum; removals leave them), so each stays a bound
  // of what is there. Filled here from the chunks so far.
  `ALTER TABLE knowledge_index_terms ADD COLUMN max_tf INTEGER NOT NULL DEFAULT ${MAX_TF};
   ALTER TABLE knowledge_index_stats ADD COLUMN min_words INTEGER NOT NULL DEFAULT 0;
   UPDATE knowledge_index_terms t SET max_tf = m.tf
   FROM (SELECT c.vector_store_id, u.lexeme, max(cardinality(u.positions)) AS tf
         FROM knowledge_chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u GROUP BY 1, 2) m
   WHERE t.vector_store_id = m.vector_store_id AND t.word = m.lexeme;
   UPDATE knowledge_index_stats s SET min_words = m.w
   FROM (SELECT vector_store_id, min(words) AS w FROM knowledge_chunks GROUP BY 1) m
   WHERE s.vector_store_id = m.vector_store_id;`,
];

/** The schema this hub writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The table recording which migrations a database has had. */
const VERSIONS_TABLE = 'baimo_schema_migrations';

/**
 * The advisory lock that serialises migrations (an arbitrary constant: "baimo" in ASCII).
 * Advisory locks are per database, so hubs on different databases never wait on each other.
 */
export const MIGRATION_LOCK = 0x6261696d6f;

/**
 * A database this hub may not use: a newer Baimo wrote its schema. A DataDirError, so that the
 * CLI reports it as the embedded store's refusal is reported: one line, no stack.
 */
export class DatabaseSchemaError extends DataDirError {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseSchemaError';
  }
}

/** `text` with the URL's password, as written and as decoded, masked: driver messages may quote parts of the URL. */
export function maskPassword(text: string, url: string): string {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    return text;
  }
  if (!password) return text;
  let out = text.split(password).join('***');
  try {
    const decoded = decodeURIComponent(password);
    if (decoded) out = out.split(decoded).join('***');
  } catch {
    // a malformed escape: the raw form was masked
  }
  return out;
}

/** The URL without its password, for messages. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(the configured URL)';
  }
}

/**
 * BIGINT (row ids, unix ms, token sums) and NUMERIC (what SUM over BIGINT gives) read as JS
 * numbers, as the embedded store returns them; exact up to 2^53, beyond any count or
 * timestamp the hub keeps. Set per pool, so other users of `pg` in the process are untouched.
 */
export const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** How long a pool waits for a new connection: an unreachable server fails a write, it does not hang it. */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Brings the database's schema up to date, each migration in its own transaction, while holding
 * the migration lock; refuses a schema newer than this code without changing anything. Returns
 * how many migrations this call applied (0 when another replica already had).
 */
export async function migrate(pool: pg.Pool, url: string): Promise<number> {
  const client = await pool.connect();
  // A connection that failed mid-way may still hold the lock or a transaction: it is closed, not reused.
  let healthy = true;
  try {
    // A session lock, held across the migrations' transactions and released if this process dies.
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      return await migrateLocked(client, url);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => (healthy = false));
    }
  } catch (err) {
    if (!(err instanceof DatabaseSchemaError)) healthy = false;
    throw err;
  } finally {
    client.release(!healthy);
  }
}

async function migrateLocked(client: pg.PoolClient, url: string): Promise<number> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${VERSIONS_TABLE} (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
  const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${VERSIONS_TABLE}`);
  const version = rows[0]?.version ?? 0;
  if (version > SCHEMA_VERSION) {
    throw new DatabaseSchemaError(
      `The database ${displayUrl(url)} has schema version ${version}, newer than this Baimo's (${SCHEMA_VERSION}): a newer Baimo wrote it. ` +
        'Run that version (or newer), or point this one at another database; nothing was changed.',
    );
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    await client.query('BEGIN');
    try {
      await client.query(MIGRATIONS[v]!);
      await client.query(`INSERT INTO ${VERSIONS_TABLE} (version) VALUES ($1)`, [v + 1]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  return SCHEMA_VERSION - version;
}

/** Rows per statement when deleting old data: each batch is its own short transaction. */
export const DELETE_BATCH = 5000;

/**
 * Deletes the rows of `table` matching `where` (its one parameter a cut-off), `batch` rows per
 * statement, so that no delete holds locks on many rows, or writers up, for long; returns how
 * many. Rows are picked by ctid: the batch is found through whichever index serves `where` and
 * deleted by physical address, with no key needed.
 */
export async function deleteInBatches(pool: pg.Pool, table: string, where: string, before: number, batch = DELETE_BATCH): Promise<number> {
  const sql = `DELETE FROM ${table} WHERE ctid = ANY (ARRAY (SELECT ctid FROM ${table} WHERE ${where} LIMIT ${batch}))`;
  let total = 0;
  for (;;) {
    const n = (await pool.query(sql, [before])).rowCount ?? 0;
    total += n;
    if (n < batch) return total;
  }
}
