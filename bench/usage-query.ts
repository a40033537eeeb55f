/**
 * How fast the usage query API answers over a million records: fills a fresh store with
 * 1,000,000 usage rows spread over 60 days, 50 keys, 5 teams and 20 models, then times the
 * queries the admin API and console make. Run: npx tsx bench/usage-query.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSQLiteStores } from '../src/store/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'baimo-bench-'));
const store = openSQLiteStores(dir);
const N = 1_000_000;
const now = Date.now();
let t0 = performance.now();
store.db.exec(`
  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${N - 1})
  INSERT INTO usage (request_id, ts, endpoint, model, provider, upstream_model, stream, status, input_tokens, output_tokens,
                     cached_input_tokens, latency_ms, ttft_ms, deployment, attempt, final, key_id, team_id, cost_usd)
  SELECT 'req_' || i, ${now} - (i * 5184), 'chat', 'model-' || (i % 20), 'prov-' || (i % 4), 'up-' || (i % 20), i % 2,
         CASE WHEN i % 50 = 0 THEN 502 ELSE 200 END, 100 + i % 900, 50 + i % 400, i % 100, 300 + i % 2000, 80 + i % 500,
         'dep-' || (i % 40), 1, 1, 'key_' || (i % 50), 'team_' || (i % 5), (i % 1000) / 100000.0
  FROM n`);
console.log(`inserted ${N} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
// The hourly totals the store keeps in step on every write (built here in one go).
store.db.exec(`INSERT INTO usage_hourly
  SELECT ts - ts % 3600000, COALESCE(key_id, ''), COALESCE(team_id, ''), model, COALESCE(provider, ''), COALESCE(deployment, ''), status, final,
         COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens), 0, 0, SUM(cost_usd), SUM(latency_ms), SUM(ttft_ms), COUNT(ttft_ms)
  FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`);
console.log(`hourly totals: ${(store.db.prepare('SELECT COUNT(*) AS n FROM usage_hourly').get() as { n: number }).n} rows`);
store.db.exec('ANALYZE');

const from = now - 30 * 86_400_000;
const H = "hour >= @from AND hour < @to AND final = 1";
const queries: [string, string, Record<string, unknown>][] = [
  ['API: 30 days, totals', `SELECT SUM(requests), SUM(input_tokens), SUM(cost_usd) FROM usage_hourly WHERE ${H}`, {}],
  ['API: 30 days by day', `SELECT strftime('%Y-%m-%d', hour / 1000, 'unixepoch') AS day, SUM(requests), SUM(cost_usd) FROM usage_hourly WHERE ${H} GROUP BY day`, {}],
  ['API: 30 days by model', `SELECT model, SUM(requests), SUM(cost_usd) FROM usage_hourly WHERE ${H} GROUP BY model`, {}],
  ['API: one key, by day', `SELECT strftime('%Y-%m-%d', hour / 1000, 'unixepoch') AS day, SUM(requests) FROM usage_hourly WHERE ${H} AND key_id = @key GROUP BY day`, { key: 'key_7' }],
  ['API: one team, by model', `SELECT model, SUM(requests), SUM(cost_usd) FROM usage_hourly WHERE ${H} AND team_id = @team GROUP BY model`, { team: 'team_3' }],
  ['API: by key and model', `SELECT key_id, model, SUM(requests), SUM(cost_usd) FROM usage_hourly WHERE ${H} GROUP BY key_id, model`, {}],
  ['raw: 30 days, totals', 'SELECT COUNT(*), SUM(input_tokens), SUM(cost_usd) FROM usage WHERE ts >= @from AND ts < @to AND final = 1', {}],
  ['raw: 30 days by day', "SELECT strftime('%Y-%m-%d', ts / 1000, 'unixepoch') AS day, COUNT(*), SUM(cost_usd) FROM usage WHERE ts >= @from AND ts < @to AND final = 1 GROUP BY day", {}],
  ['raw: 30 days by model', 'SELECT model, COUNT(*), SUM(cost_usd) FROM usage WHERE ts >= @from AND ts < @to AND final = 1 GROUP BY model', {}],
  ['raw: one key, by day', "SELECT strftime('%Y-%m-%d', ts / 1000, 'unixepoch') AS day, COUNT(*), SUM(cost_usd) FROM usage WHERE ts >= @from AND ts < @to AND final = 1 AND key_id = @key GROUP BY day", { key: 'key_7' }],
  ['raw: one team, by model', 'SELECT model, COUNT(*), SUM(cost_usd) FROM usage WHERE ts >= @from AND ts < @to AND final = 1 AND team_id = @team GROUP BY model', { team: 'team_3' }],
  ['raw: latest 50 requests', 'SELECT * FROM usage WHERE final = 1 ORDER BY ts DESC LIMIT 50', {}],
];
for (const [name, sql, params] of queries) {
  const st = store.db.prepare(sql);
  st.all({ from, to: now + 1, ...params }); // warm
  t0 = performance.now();
  const runs = 5;
  for (let i = 0; i < runs; i++) st.all({ from, to: now + 1, ...params });
  console.log(`${name.padEnd(30)} ${((performance.now() - t0) / runs).toFixed(1)} ms`);
}
store.close();
rmSync(dir, { recursive: true, force: true });
