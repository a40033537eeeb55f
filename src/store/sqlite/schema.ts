import Database from 'better-sqlite3';
import { DataDirError } from '../data-dir.js';

/**
 * The embedded store's schema: one SQLite file in WAL mode under the data directory, shared by
 * every SQLite port implementation in this folder.
 */

/** Each entry upgrades the schema by one version (PRAGMA user_version). Never edit a shipped one. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE usage (
     id INTEGER PRIMARY KEY,
     request_id TEXT NOT NULL,
     ts INTEGER NOT NULL,
     endpoint TEXT NOT NULL,
     model TEXT NOT NULL,
     provider TEXT,
     upstream_model TEXT,
     stream INTEGER NOT NULL,
     status INTEGER NOT NULL,
     error_kind TEXT,
     input_tokens INTEGER,
     output_tokens INTEGER,
     cached_input_tokens INTEGER,
     cache_write_tokens INTEGER,
     reasoning_tokens INTEGER,
     latency_ms REAL NOT NULL,
     ttft_ms REAL
   );
   CREATE INDEX usage_ts ON usage (ts);
   CREATE INDEX usage_model_ts ON usage (model, ts);`,
  `ALTER TABLE usage ADD COLUMN deployment TEXT;
   ALTER TABLE usage ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE usage ADD COLUMN final INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE usage ADD COLUMN fallback_from TEXT;
   CREATE INDEX usage_request ON usage (request_id);`,
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE teams (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     limits TEXT NOT NULL,
     metadata TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE keys (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     name TEXT NOT NULL,
     team_id TEXT REFERENCES teams (id),
     limits TEXT NOT NULL,
     expires_at INTEGER,
     metadata TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER
   );
   ALTER TABLE usage ADD COLUMN key_id TEXT;
   ALTER TABLE usage ADD COLUMN team_id TEXT;
   ALTER TABLE usage ADD COLUMN cost_usd REAL;
   CREATE INDEX usage_key_ts ON usage (key_id, ts);
   CREATE INDEX usage_team_ts ON usage (team_id, ts);`,
  // A journal replayed after a crash may repeat records already written: they are ignored.
  `CREATE UNIQUE INDEX usage_request_attempt ON usage (request_id, attempt, final);`,
  `ALTER TABLE usage ADD COLUMN usage_counted INTEGER NOT NULL DEFAULT 0;`,
  `CREATE TABLE request_bodies (
     request_id TEXT PRIMARY KEY,
     ts INTEGER NOT NULL,
     request TEXT NOT NULL,
     response TEXT NOT NULL
   );
   CREATE INDEX request_bodies_ts ON request_bodies (ts);`,
  // Hourly totals, kept in step with usage by every batch write: usage queries read these, so
  // they stay fast however many records there are.
  `CREATE TABLE usage_hourly (
     hour INTEGER NOT NULL,
     key_id TEXT NOT NULL,
     team_id TEXT NOT NULL,
     model TEXT NOT NULL,
     provider TEXT NOT NULL,
     deployment TEXT NOT NULL,
     status INTEGER NOT NULL,
     final INTEGER NOT NULL,
     requests INTEGER NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cached_input_tokens INTEGER NOT NULL,
     cache_write_tokens INTEGER NOT NULL,
     reasoning_tokens INTEGER NOT NULL,
     cost_usd REAL NOT NULL,
     latency_ms_sum REAL NOT NULL,
     ttft_ms_sum REAL NOT NULL,
     ttft_count INTEGER NOT NULL,
     PRIMARY KEY (hour, key_id, team_id, model, provider, deployment, status, final)
   ) WITHOUT ROWID;
   CREATE INDEX usage_hourly_key ON usage_hourly (key_id, hour);
   CREATE INDEX usage_hourly_team ON usage_hourly (team_id, hour);
   INSERT INTO usage_hourly
     SELECT ts - ts % 3600000, COALESCE(key_id, ''), COALESCE(team_id, ''), model, COALESCE(provider, ''), COALESCE(deployment, ''),
            status, final, COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),
            COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cost_usd), 0), SUM(latency_ms),
            COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
     FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;`,
  `CREATE TABLE request_traces (request_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, trace TEXT NOT NULL);
   CREATE INDEX request_traces_ts ON request_traces (ts);
   CREATE TABLE arena_votes (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     model_a TEXT NOT NULL,
     model_b TEXT NOT NULL,
     winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'bad')),
     key_id TEXT
   );
   CREATE INDEX usage_final_id ON usage (final, id);`,
  // Responses API objects, for GET /v1/responses/{id} and previous_response_id.
  `CREATE TABLE responses (
     id TEXT PRIMARY KEY,
     ts INTEGER NOT NULL,
     key_id TEXT,
     response TEXT NOT NULL,
     history TEXT NOT NULL
   );
   CREATE INDEX responses_ts ON responses (ts);`,
  // usage_request_attempt (request_id, attempt, final) serves every lookup by request id: one
  // index fewer to update on each insert.
  `DROP INDEX IF EXISTS usage_request;`,
  // The items of stored responses, by id: item_reference inputs and GET …/input_items (see
  // responses.ts). `input` is 1 for the request's input items, 0 for the response's output.
  `CREATE TABLE response_items (
     response_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     id TEXT NOT NULL,
     input INTEGER NOT NULL,
     ts INTEGER NOT NULL,
     item TEXT NOT NULL,
     PRIMARY KEY (response_id, seq)
   ) WITHOUT ROWID;
   CREATE INDEX response_items_id ON response_items (id);
   CREATE INDEX response_items_ts ON response_items (ts);`,
  // No foreign key from keys to teams, as in the shared store (store/postgres/schema.ts): a team
  // whose keys are all revoked may be deleted, and its revoked keys keep naming it (the admin's
  // view of an old key, and `baimo migrate --from sqlite` copies rows as they are). SQLite cannot
  // drop a constraint, so the table is rebuilt; nothing references keys.
  `CREATE TABLE keys_new (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     name TEXT NOT NULL,
     team_id TEXT,
     limits TEXT NOT NULL,
     expires_at INTEGER,
     metadata TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER
   );
   INSERT INTO keys_new (id, hash, prefix, name, team_id, limits, expires_at, metadata, created_at, revoked_at)
     SELECT id, hash, prefix, name, team_id, limits, expires_at, metadata, created_at, revoked_at FROM keys;
   DROP TABLE keys;
   ALTER TABLE keys_new RENAME TO keys;`,
  // Files uploaded through the Files API (knowledge/ports.ts), their bytes inline: one table, one
  // row per file, so a delete takes metadata and bytes together. Listing pages by (created_at, id)
  // within an owner (key_id NULL: the admin's or an open hub's).
  `CREATE TABLE files (
     id TEXT PRIMARY KEY,
     key_id TEXT,
     filename TEXT NOT NULL,
     purpose TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     content BLOB NOT NULL
   );
   CREATE INDEX files_key_created ON files (key_id, created_at, id);
   CREATE INDEX files_created ON files (created_at, id);`,
  // The chunk index (knowledge-index.ts). Chunks by file; their vectors in a table of their own
  // (with the scope's columns, so a scan joins nothing), so a keyword query never reads 4 KB
  // blobs and a vector scan reads only the store's vectors. Each vector store's words get an
  // FTS5 table of their own, knowledge_terms_<knowledge_stores.id>, made on the store's first
  // file (so BM25's statistics are the store's own: see knowledge-index.ts).
  `CREATE TABLE knowledge_stores (id INTEGER PRIMARY KEY, vector_store_id TEXT NOT NULL UNIQUE);
   CREATE TABLE knowledge_chunks (
     id INTEGER PRIMARY KEY,
     vector_store_id TEXT NOT NULL,
     file_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     tokens INTEGER NOT NULL,
     text TEXT NOT NULL
   );
   CREATE UNIQUE INDEX knowledge_chunks_file ON knowledge_chunks (vector_store_id, file_id, seq);
   CREATE TABLE knowledge_vectors (
     id INTEGER PRIMARY KEY,
     vector_store_id TEXT NOT NULL,
     file_id TEXT NOT NULL,
     vector BLOB NOT NULL
   );
   CREATE INDEX knowledge_vectors_store ON knowledge_vectors (vector_store_id, id);`,
  // Vector stores (knowledge/ports.ts VectorStoreStore): the stores, the files each holds with
  // their ingestion state (a file `in_progress` is a job; lease_until, unix ms, says until when a
  // runner holds it), and the batches files came in. Deleting a store deletes the rest with it.
  `CREATE TABLE vector_stores (
     id TEXT PRIMARY KEY,
     key_id TEXT,
     name TEXT NOT NULL,
     metadata TEXT,
     created_at INTEGER NOT NULL,
     last_active_at INTEGER NOT NULL,
     expires_after_days INTEGER,
     expires_at INTEGER,
     embedding_model TEXT,
     contextual_headers INTEGER NOT NULL
   );
   CREATE INDEX vector_stores_key_created ON vector_stores (key_id, created_at, id);
   CREATE INDEX vector_stores_created ON vector_stores (created_at, id);
   CREATE TABLE vector_store_files (
     vector_store_id TEXT NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
     file_id TEXT NOT NULL,
     filename TEXT NOT NULL,
     key_id TEXT,
     created_at INTEGER NOT NULL,
     status TEXT NOT NULL,
     error_code TEXT,
     error_message TEXT,
     attributes TEXT,
     max_tokens INTEGER NOT NULL,
     overlap_tokens INTEGER NOT NULL,
     usage_bytes INTEGER NOT NULL DEFAULT 0,
     batch_id TEXT,
     lease_until INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (vector_store_id, file_id)
   );
   CREATE INDEX vector_store_files_created ON vector_store_files (vector_store_id, created_at, file_id);
   CREATE INDEX vector_store_files_batch ON vector_store_files (batch_id) WHERE batch_id IS NOT NULL;
   CREATE INDEX vector_store_files_jobs ON vector_store_files (lease_until) WHERE status = 'in_progress';
   CREATE TABLE vector_store_file_batches (
     id TEXT PRIMARY KEY,
     vector_store_id TEXT NOT NULL REFERENCES vector_stores (id) ON DELETE CASCADE,
     created_at INTEGER NOT NULL,
     cancelled_at INTEGER
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
     planned INTEGER NOT NULL,
     done INTEGER NOT NULL DEFAULT 0,
     failures INTEGER NOT NULL DEFAULT 0,
     spent_usd REAL NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     lease_until INTEGER NOT NULL DEFAULT 0,
     cancel_requested INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX eval_runs_key_created ON eval_runs (key_id, created_at, id);
   CREATE INDEX eval_runs_created ON eval_runs (created_at, id);
   CREATE INDEX eval_runs_unfinished ON eval_runs (status) WHERE status IN ('queued', 'running');
   CREATE TABLE eval_results (
     run_id TEXT NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
     cell_key TEXT NOT NULL,
     test_idx INTEGER NOT NULL,
     prompt_idx INTEGER NOT NULL,
     provider_idx INTEGER NOT NULL,
     repeat INTEGER NOT NULL,
     success INTEGER NOT NULL,
     score REAL NOT NULL,
     cost_usd REAL,
     latency_ms REAL NOT NULL,
     cell TEXT NOT NULL,
     PRIMARY KEY (run_id, cell_key)
   );
   CREATE INDEX eval_results_order ON eval_results (run_id, test_idx, prompt_idx, provider_idx, repeat);`,
  // Human judgements (eval/ports.ts JudgementStore): the arena's votes, now with the prompt and the
  // two answers as the voter saw them (bounded, text columns last so the leaderboard's read of the
  // first ones never touches their overflow pages). The old votes move in keeping their ids, so
  // the leaderboard, which depends on the order cast, gives the same board.
  `CREATE TABLE eval_judgements (
     seq INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     key_id TEXT,
     model_a TEXT NOT NULL,
     model_b TEXT NOT NULL,
     winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'bad')),
     prompt TEXT,
     answer_a TEXT,
     answer_b TEXT
   );
   INSERT INTO eval_judgements (seq, ts, key_id, model_a, model_b, winner)
     SELECT id, ts, key_id, model_a, model_b, winner FROM arena_votes ORDER BY id;
   -- Indexed once filled: built from the sorted rows, not grown a row at a time (2-2.5x faster on a big table).
   CREATE INDEX eval_judgements_key ON eval_judgements (key_id, seq);
   CREATE INDEX eval_judgements_model_a ON eval_judgements (model_a, seq);
   CREATE INDEX eval_judgements_model_b ON eval_judgements (model_b, seq);
   DROP TABLE arena_votes;`,
  // A 1-bit-per-dimension copy of the chunk index's vectors for the approximate vector search
  // (knowledge-index.ts): one row per store, file and vector length, written with the file's
  // vectors. `ids` holds the chunk ids (float64s), `bits` their sign bits (32-bit words per
  // vector). A store from before this migration has quantized = 0: its first vector search
  // fills its rows in the background, a file per transaction, and searches it exactly meanwhile.
  // bits_version: random, new with each write of a store's bits (what cached bits are checked against).
  `CREATE TABLE knowledge_bits (
     id INTEGER PRIMARY KEY,
     store_id INTEGER NOT NULL,
     file_id TEXT NOT NULL,
     dims INTEGER NOT NULL,
     ids BLOB NOT NULL,
     bits BLOB NOT NULL
   );
   CREATE UNIQUE INDEX knowledge_bits_file ON knowledge_bits (store_id, file_id, dims);
   ALTER TABLE knowledge_stores ADD COLUMN quantized INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE knowledge_stores ADD COLUMN bits_version INTEGER NOT NULL DEFAULT 0;`,
  // A run's sums per model (eval/ports.ts RunSums), kept by each result's write, so a run's
  // status and stats never read its cells. Runs stored before are summed from their cells on first
  // read (their sums cover fewer cells than the run's `done`).
  `CREATE TABLE eval_run_models (
     run_id TEXT NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
     provider_idx INTEGER NOT NULL,
     cells INTEGER NOT NULL,
     successes INTEGER NOT NULL,
     errors INTEGER NOT NULL,
     score_sum REAL NOT NULL,
     cost_sum REAL NOT NULL,
     answered INTEGER NOT NULL,
     cases INTEGER NOT NULL,
     passed INTEGER NOT NULL,
     PRIMARY KEY (run_id, provider_idx)
   );`,
];

/** The schema this hub writes (PRAGMA user_version once migrated). */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens the database at `path` and brings its schema up to date; refuses one written by a newer
 * Baimo without changing it.
 */
export function openDatabase(path: string): Database.Database {
  const db = new Database(path);
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new DataDirError(
      `The database ${path} has schema version ${version}, newer than this Baimo's (${SCHEMA_VERSION}): a newer Baimo wrote it. ` +
        'Run that version (or newer), or give this one another --data-dir; nothing was changed.',
    );
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/** Prepared statements of one connection, cached by their SQL text. */
export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      statements.set(sql, s);
    }
    return s;
  };
}

/**
 * Deletes the rows `sql` selects (its one parameter a cut-off), a few thousand rows per
 * transaction so that writers are never held up for long; returns how many.
 */
export function deleteInChunks(db: Database.Database, sql: string, before: number): number {
  let total = 0;
  for (;;) {
    const n = db.prepare(sql).run(before).changes;
    total += n;
    if (n < 5000) return total;
  }
}
