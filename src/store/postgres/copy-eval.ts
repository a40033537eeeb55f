/**
 * The evaluation half of `baimo migrate --from sqlite` (copy-from-sqlite.ts): stored eval runs, their
 * results, and the human judgements (the arena's votes). Safe to run again like the rest: runs and
 * results go with ON CONFLICT DO NOTHING on their keys; a judgement's id is each store's own
 * sequence number, so judgements are matched by what they hold (time, key, models, winner, and the
 * texts' md5, computed by the database for its rows) and each distinct one is copied as many times
 * as SQLite holds it less the times the database already does. That also matches votes an older
 * Baimo copied before both stores were upgraded.
 *
 * A run still `queued` or `running` in SQLite (a hub killed mid-run) goes with no lease
 * (lease_until 0): its hub is gone, so the first shared hub that looks marks it `interrupted`, as
 * a restarted embedded hub would have.
 */
import { createHash } from 'node:crypto';
import type { JudgementRow } from '../eval-rows.js';
import type { SQLiteStores } from '../sqlite/index.js';
import type { PostgresStores } from './index.js';

export interface EvalCopy {
  readonly table: string;
  readonly read: number;
  readonly added: number;
}

type Progress = (e: { readonly table: string; readonly done: number; readonly total: number }) => void;

/** PostgreSQL refuses NUL in text (as copy-from-sqlite.ts does for bodies). */
function text(s: string | null): string | null {
  return s !== null && s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}

/** md5 of the UTF-8 text, as PostgreSQL's md5(text) gives it; null for NULL. */
const md5 = (s: string | null): string | null => (s === null ? null : createHash('md5').update(s, 'utf8').digest('hex'));

interface JudgementKey {
  ts: number | string;
  key_id: string | null;
  model_a: string;
  model_b: string;
  winner: string;
  prompt: string | null;
  answer_a: string | null;
  answer_b: string | null;
}

/** What identifies a judgement across the stores, its texts as their md5. */
const identity = (j: JudgementKey): string => JSON.stringify([Number(j.ts), j.key_id, j.model_a, j.model_b, j.winner, j.prompt, j.answer_a, j.answer_b]);

export async function copyEval(src: SQLiteStores, dst: PostgresStores, chunk: number, progress: Progress): Promise<EvalCopy[]> {
  const pool = dst.pool;
  const totals = src.evalRuns.exportCounts();

  // Runs before their results (the foreign key), by id.
  progress({ table: 'eval_runs', done: 0, total: totals.runs });
  const runs = { read: 0, added: 0 };
  for (let after = ''; ; ) {
    const rows = src.evalRuns.exportRuns(after, chunk);
    if (rows.length === 0) break;
    const col = <K extends keyof (typeof rows)[number]>(k: K) => rows.map((r) => r[k]);
    const r = await pool.query(
      `INSERT INTO eval_runs (id, key_id, description, suite, options, status, stop_reason, error, planned, done, failures, spent_usd, created_at, started_at, finished_at, lease_until, cancel_requested)
       SELECT *, 0, 0 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                            $9::int8[], $10::int8[], $11::int8[], $12::float8[], $13::int8[], $14::int8[], $15::int8[])
       ON CONFLICT DO NOTHING`,
      [
        col('id'), col('key_id'), rows.map((x) => text(x.description)), rows.map((x) => text(x.suite)), col('options'), col('status'), col('stop_reason'), rows.map((x) => text(x.error)),
        col('planned'), col('done'), col('failures'), col('spent_usd'), col('created_at'), col('started_at'), col('finished_at'),
      ],
    );
    runs.read += rows.length;
    runs.added += r.rowCount ?? 0;
    after = rows[rows.length - 1]!.id;
    progress({ table: 'eval_runs', done: runs.read, total: totals.runs });
  }

  progress({ table: 'eval_results', done: 0, total: totals.results });
  const results = { read: 0, added: 0 };
  for (let after: readonly [string, string] = ['', '']; ; ) {
    const rows = src.evalRuns.exportResults(after, chunk);
    if (rows.length === 0) break;
    const r = await pool.query(
      `INSERT INTO eval_results (run_id, cell_key, test_idx, prompt_idx, provider_idx, repeat, success, score, cost_usd, latency_ms, cell)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::bool[], $8::float8[], $9::float8[], $10::float8[], $11::text[])
       ON CONFLICT DO NOTHING`,
      [
        rows.map((x) => x.run_id), rows.map((x) => x.cell_key), rows.map((x) => x.test_idx), rows.map((x) => x.prompt_idx), rows.map((x) => x.provider_idx), rows.map((x) => x.repeat),
        rows.map((x) => x.success === 1), rows.map((x) => x.score), rows.map((x) => x.cost_usd), rows.map((x) => x.latency_ms), rows.map((x) => text(x.cell)),
      ],
    );
    results.read += rows.length;
    results.added += r.rowCount ?? 0;
    const last = rows[rows.length - 1]!;
    after = [last.run_id, last.cell_key];
    progress({ table: 'eval_results', done: results.read, total: totals.results });
  }

  // Judgements in the order cast (the leaderboard's bootstrap depends on it), a page at a time:
  // the database's own are read once, as hashes.
  progress({ table: 'eval_judgements', done: 0, total: totals.judgements });
  const have = new Map<string, number>();
  const existing = await pool.query<JudgementKey>(
    'SELECT ts, key_id, model_a, model_b, winner, md5(prompt) AS prompt, md5(answer_a) AS answer_a, md5(answer_b) AS answer_b FROM eval_judgements',
  );
  for (const j of existing.rows) have.set(identity(j), (have.get(identity(j)) ?? 0) + 1);
  const judgements = { read: 0, added: 0 };
  for (let after = 0; ; ) {
    const rows = src.evalRuns.exportJudgements(after, chunk);
    if (rows.length === 0) break;
    const clean = rows.map((j): JudgementRow => ({ ...j, prompt: text(j.prompt), answer_a: text(j.answer_a), answer_b: text(j.answer_b) }));
    const missing = clean.filter((j) => {
      const k = identity({ ...j, prompt: md5(j.prompt), answer_a: md5(j.answer_a), answer_b: md5(j.answer_b) });
      const n = have.get(k) ?? 0;
      if (n > 0) have.set(k, n - 1);
      return n === 0;
    });
    if (missing.length) {
      const col = <K extends keyof JudgementRow>(k: K) => missing.map((j) => j[k]);
      // WITH ORDINALITY keeps the page's order for the sequence the database assigns.
      await pool.query(
        `INSERT INTO eval_judgements (ts, key_id, model_a, model_b, winner, prompt, answer_a, answer_b)
         SELECT ts, key_id, model_a, model_b, winner, prompt, answer_a, answer_b
         FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
           WITH ORDINALITY AS j(ts, key_id, model_a, model_b, winner, prompt, answer_a, answer_b, n) ORDER BY n`,
        [col('ts'), col('key_id'), col('model_a'), col('model_b'), col('winner'), col('prompt'), col('answer_a'), col('answer_b')],
      );
    }
    judgements.read += rows.length;
    judgements.added += missing.length;
    after = Number(rows[rows.length - 1]!.seq);
    progress({ table: 'eval_judgements', done: judgements.read, total: totals.judgements });
  }
  return [
    { table: 'eval_runs', ...runs },
    { table: 'eval_results', ...results },
    { table: 'eval_judgements', ...judgements },
  ];
}
