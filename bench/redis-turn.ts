/**
 * `npx tsx bench/redis-turn.ts`: what RedisLimits' one-script-per-turn admission costs Redis per
 * request, and where it goes (issue 18). C requests at a time, each: admitAndReserve on one key
 * (as the hub's admission asks it), a wait of a few ms (the call), then settle and a token
 * correction, as the hub does when a call ends; for SECONDS per variant. Variants take parts away
 * (no budget, no rate limit, no token corrections), so the difference says what each part costs.
 * All but the last run without grants (RedisLimits' `grantAfter: 0`), so that every admission
 * goes through the turn script as it does before an account's traffic earns a grant; the last
 * runs as the hub does.
 *
 * Reads Redis's INFO commandstats before and after each variant: script calls, the commands they
 * ran (by name), and the µs Redis spent in scripts, per request. Starts a Redis of its own (no
 * persistence, on a free port) so that nothing else on the machine is counted, unless
 * BENCH_REDIS names one (then whatever else uses it is counted too).
 *
 * With BENCH_SLICES=1 it then replays one captured call (8 requests with their settles and
 * corrections) 2,000 times, cut short at successive points of the script, and reads each run's
 * duration from SLOWLOG: the minimum says what each part of a call costs, whatever the load.
 *
 * Env: BENCH_SECONDS (4), BENCH_C (32), BENCH_CALL_MS (5), BENCH_REDIS, BENCH_SLICES.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisLimits } from '../src/store/redis/limits.js';
import { turnScript } from '../src/store/redis/scripts.js';
import type { Budgeted } from '../src/tenancy/ledger.js';
import type { RateLimited } from '../src/tenancy/rate-limits.js';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 4);
const C = Number(env.BENCH_C ?? 32);
const CALL_MS = Number(env.BENCH_CALL_MS ?? 5);
const log = (s: string) => process.stdout.write(`${s}\n`);

type Stats = Map<string, { calls: number; usec: number }>;

async function commandStats(r: Redis): Promise<Stats> {
  const out: Stats = new Map();
  for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return out;
}

interface Variant {
  readonly name: string;
  readonly limits: readonly RateLimited[];
  readonly budgets: readonly Budgeted[];
  readonly corrections: boolean;
  /** Whether the replica may take grants (admit from a share of the headroom in memory); the turn script alone otherwise. */
  readonly grants?: boolean;
}

async function runVariant(redis: Redis, stats: Redis, v: Variant): Promise<void> {
  const prefix = `bench-turn:${randomBytes(4).toString('hex')}:`;
  const limits = new RedisLimits(redis, async () => 0, { prefix, ...(!v.grants && { grantAfter: 0 }) });
  await limits.ready();
  const stop = Date.now() + SECONDS * 1000;
  let requests = 0;
  const accounts = v.limits.map((l) => l.account);
  const worker = async () => {
    while (Date.now() < stop) {
      const { rate, budget } = await limits.admitAndReserve(v.limits, 120, v.budgets, 0.0003);
      if (!rate.ok || (budget && !budget.ok)) throw new Error(`refused: ${JSON.stringify({ rate, budget })}`);
      requests++;
      await new Promise((r) => setTimeout(r, CALL_MS * (0.5 + Math.random())));
      if (budget?.ok) limits.settle(budget.reservation, 0.0001);
      if (v.corrections) limits.adjustTokens(accounts, -40);
    }
  };
  const before = await commandStats(stats);
  await Promise.all(Array.from({ length: C }, worker));
  await limits.flush();
  const after = await commandStats(stats);
  const diff: [string, number, number][] = [];
  for (const [name, a] of after) {
    if (name === 'info') continue;
    const b = before.get(name) ?? { calls: 0, usec: 0 };
    if (a.calls > b.calls) diff.push([name, a.calls - b.calls, a.usec - b.usec]);
  }
  const script = diff.find(([n]) => n === 'evalsha') ?? ['evalsha', 0, 0];
  const commands = diff.filter(([n]) => n !== 'evalsha' && n !== 'eval' && n !== 'script');
  const perReq = (x: number) => (x / requests).toFixed(2);
  log(`\n## ${v.name}: ${requests} requests (${(requests / SECONDS).toFixed(0)}/s), ${(requests / script[1]).toFixed(1)} requests per script call`);
  log(`per request: ${perReq(script[1])} script calls, ${perReq(commands.reduce((s, c) => s + c[1], 0))} commands, ${perReq(script[2])} µs in scripts; per script call ${(script[2] / script[1]).toFixed(1)} µs`);
  log(`commands per script call (µs in them per call): ${commands
    .sort((a, b) => b[1] - a[1])
    .map(([n, calls, us]) => `${n} ${(calls / script[1]).toFixed(2)} (${(us / script[1]).toFixed(1)})`)
    .join(', ')}`);
  const inCommands = commands.reduce((s, c) => s + c[2], 0);
  log(`µs per script call in commands ${(inCommands / script[1]).toFixed(1)}, in Lua itself (arguments, tables, calls) ${((script[2] - inCommands) / script[1]).toFixed(1)}`);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

/** The turn script's duration, cut short at successive points (see the header). */
async function slices(redis: Redis): Promise<void> {
  await redis.config('SET', 'slowlog-log-slower-than', '0');
  await redis.config('SET', 'slowlog-max-len', '5000');
  const l = new RedisLimits(redis, async () => 0, { prefix: `bench-slices:${randomBytes(4).toString('hex')}:` });
  await l.ready();
  const rpm: RateLimited = { account: 'key:bench', rpm: 100_000_000 };
  const day: Budgeted = { account: 'key:bench', budgetUsd: 1_000_000, period: 'day' };
  const captured: { keys: string[]; args: (string | number)[] }[] = [];
  const run = turnScript.run.bind(turnScript);
  turnScript.run = (r, keys, args) => (captured.push({ keys: [...keys], args: [...args] }), run(r, keys, args));
  const held = await Promise.all(Array.from({ length: 8 }, () => l.admitAndReserve([rpm], 120, [day], 0.0003)));
  for (const h of held) {
    if (h.budget?.ok) l.settle(h.budget.reservation, 0.0001);
    l.adjustTokens(['key:bench'], -40);
  }
  captured.length = 0;
  await Promise.all(Array.from({ length: 8 }, () => l.admitAndReserve([rpm], 120, [day], 0.0003)));
  turnScript.run = run;
  const call = captured.at(-1)!;
  const body = turnScript.source;
  const cut = (marker: string) => {
    const i = body.indexOf(marker);
    if (i < 0) throw new Error(`no '${marker}' in the script`);
    return `${body.slice(0, i)}\nif true then return {} end\n${body.slice(i)}`;
  };
  const variants: [string, string][] = [
    ['KEYS/ARGV set up, nothing run', cut('local sec = math.floor')],
    ['FINISH (spends written, releases and corrections gathered)', cut('local function rebuild')],
    ['function definitions', cut('local profiles = {}')],
    ['profiles parsed', cut('local answers = {}')],
    ['8 admissions decided (reads)', cut('for i, w in pairs(W) do')],
    ['everything (writes)', body],
  ];
  const shas = await Promise.all(variants.map(([, lua]) => redis.script('LOAD', lua) as Promise<string>));
  const took: number[][] = variants.map(() => []);
  for (let round = 0; round < 10; round++) {
    for (let v = 0; v < variants.length; v++) {
      await redis.slowlog('RESET');
      for (let i = 0; i < 200; i++) await redis.evalsha(shas[v]!, call.keys.length, ...call.keys, ...call.args);
      const entries = (await redis.slowlog('GET', 5000)) as [number, number, number, string[]][];
      took[v]!.push(...entries.filter((e) => String(e[3][0]).toLowerCase() === 'evalsha').map((e) => Number(e[2])));
    }
  }
  log(`\n## One call of 8 requests with settles and corrections, cut short (SLOWLOG, µs: min / median of 2,000)`);
  variants.forEach(([name], v) => {
    const d = took[v]!.sort((a, b) => a - b);
    log(`- ${name}: ${d[0]} / ${d[Math.floor(d.length / 2)]}`);
  });
  await redis.config('SET', 'slowlog-log-slower-than', '10000');
}

async function ownRedis(): Promise<{ url: string; stop: () => void }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return { url, stop: () => child.kill() };
    } catch {
      r.disconnect();
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  child.kill();
  throw new Error('redis-server did not start');
}

async function main(): Promise<void> {
  const own = env.BENCH_REDIS ? undefined : await ownRedis();
  const url = env.BENCH_REDIS ?? own!.url;
  const redis = new Redis(url);
  const stats = new Redis(url);
  log(`# RedisLimits per request (bench/redis-turn.ts), ${new Date().toISOString()}: c=${C}, calls ${CALL_MS} ms ± 50 %, ${SECONDS} s per variant, Redis ${own ? 'of its own' : url}`);
  const rpm: RateLimited = { account: 'key:bench', rpm: 100_000_000 };
  const day: Budgeted = { account: 'key:bench', budgetUsd: 1_000_000, period: 'day' };
  const variants: Variant[] = [
    { name: 'rpm + budget (the bench:shared key)', limits: [rpm], budgets: [day], corrections: true },
    { name: 'rpm + budget, no token corrections', limits: [rpm], budgets: [day], corrections: false },
    { name: 'rpm only', limits: [rpm], budgets: [], corrections: true },
    { name: 'budget only', limits: [], budgets: [day], corrections: false },
    { name: 'rpm + tpm + budget', limits: [{ ...rpm, tpm: 1_000_000_000 }], budgets: [day], corrections: true },
    { name: 'rpm + budget, with grants (as the hub runs it)', limits: [rpm], budgets: [day], corrections: true, grants: true },
  ];
  try {
    for (const v of variants) await runVariant(redis, stats, v);
    if (env.BENCH_SLICES === '1') await slices(redis);
  } finally {
    redis.disconnect();
    stats.disconnect();
    own?.stop();
  }
}

await main();
