import type { Redis } from 'ioredis';
import type { RateLimits } from '../../tenancy/ports.js';
import type { RateLimited, RateVerdict } from '../../tenancy/rate-limits.js';
import { WritesBehind } from '../background.js';
import { Script } from './script.js';

/**
 * Per account, two hashes (requests, tokens) of one-second buckets: field = unix second, value =
 * the count in that second; beside them `t`, the total of the buckets still in the window, and
 * `f`, the oldest second that may still hold a bucket. Reading a window drops the seconds that
 * left it (from `f` on, subtracting each from `t`), so a check costs a few field reads whatever
 * the traffic, not a read of all sixty buckets. The hash expires 61 s after its last write, so an
 * idle account leaves nothing behind. A hash without `t` and `f` (written by an earlier version),
 * or one whose `f` lags far behind, is summed from its buckets once.
 */
const WINDOW = `
local sec = math.floor(tonumber(ARGV[1]) / 1000)
local function rebuild(key)
  local flat = redis.call('HGETALL', key)
  local t, f, stale = 0, nil, {}
  for i = 1, #flat, 2 do
    local s = tonumber(flat[i])
    if s then
      if sec - s < 60 then
        t = t + tonumber(flat[i + 1])
        if f == nil or s < f then f = s end
      else
        stale[#stale + 1] = flat[i]
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  return t, f
end
-- The window's total, the seconds until its oldest counted (positive) second drops (as
-- RateLimiter's MinuteWindow works them out), and its oldest second; the hash is left holding
-- only the last minute, with \`t\` and \`f\` in step.
local function window(key)
  local m = redis.call('HMGET', key, 't', 'f')
  local t, f = tonumber(m[1]), tonumber(m[2])
  if f == nil or t == nil or sec - 60 - f > 120 then
    if f == nil and t == nil and redis.call('EXISTS', key) == 0 then return 0, 60, nil end
    t, f = rebuild(key)
    if f == nil then
      redis.call('DEL', key)
      return 0, 60, nil
    end
  else
    while f <= sec - 60 do
      local v = redis.call('HGET', key, f)
      if v then
        t = t - tonumber(v)
        redis.call('HDEL', key, f)
      end
      f = f + 1
    end
  end
  -- From the oldest possible second on: the first bucket there is becomes the oldest second,
  -- and the first positive one sets the reset.
  local first, oldest = nil, sec
  for s = f, sec do
    local v = tonumber(redis.call('HGET', key, s))
    if v then
      if first == nil then first = s end
      if v > 0 then
        oldest = s
        break
      end
    end
  end
  f = first or f
  redis.call('HSET', key, 't', t, 'f', f)
  return t, math.max(1, oldest + 60 - sec), f
end
`;

/** Counting into a window (ADMIT and ADJUST). */
const COUNT = `
-- Adds n to second s's bucket and to the total; \`f\` (the oldest second, when known) is
-- lowered to s if a replica whose clock runs behind counts in an earlier second.
local function count(key, s, n, f)
  if f == nil then f = tonumber(redis.call('HGET', key, 'f')) end
  redis.call('HINCRBY', key, s, n)
  redis.call('HINCRBY', key, 't', n)
  if f == nil or s < f then redis.call('HSET', key, 'f', s) end
  redis.call('EXPIRE', key, 61)
end
`;

/**
 * KEYS: requests and tokens hash of each limit, in order. ARGV: now (ms), tokens, then rpm and tpm
 * of each limit ('' = none). Checks every limit, and only then counts on every one, in one step:
 * replicas sharing the Redis admit exactly the limit between them. Answers
 *   {0, limit index, 'requests'|'tokens', used, seconds until the oldest second drops}   refused
 *   {1, per limit: requests used, their reset, tokens used, their reset}                  admitted
 */
const ADMIT = `${WINDOW}${COUNT}
local tokens = tonumber(ARGV[2])
local n = #KEYS / 2
local seen = {}
for i = 1, n do
  local rpm, tpm = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  local ru, rr, rf = window(KEYS[2 * i - 1])
  if rpm ~= '' and ru + 1 > tonumber(rpm) then return {0, i, 'requests', ru, rr} end
  local tu, tr, tf = window(KEYS[2 * i])
  if tpm ~= '' and tu + tokens > tonumber(tpm) then return {0, i, 'tokens', tu, tr} end
  seen[i] = {ru, rr, tu, tr, rf, tf}
end
local out = {1}
for i = 1, n do
  local w = seen[i]
  count(KEYS[2 * i - 1], sec, 1, w[5])
  count(KEYS[2 * i], sec, tokens, w[6])
  -- Counting in the current second adds to the totals and leaves the oldest counted second
  -- (so the reset) as it was: no second read.
  out[#out + 1] = w[1] + 1
  out[#out + 1] = w[2]
  out[#out + 1] = w[3] + tokens
  out[#out + 1] = w[4]
end
return out
`;

/** KEYS: a tokens hash per correction. ARGV: per correction, when it was made (ms) and its delta. */
const ADJUST = `${COUNT}
for i = 1, #KEYS do
  count(KEYS[i], math.floor(tonumber(ARGV[2 * i - 1]) / 1000), tonumber(ARGV[2 * i]), nil)
end
return 1
`;

const admitScript = new Script(ADMIT);
const adjustScript = new Script(ADJUST);

export interface RedisRateLimitsOptions {
  /** Put before every key; in a Redis Cluster, wrap it in braces (`{baimo}:`) so a call's keys share a slot. */
  readonly prefix?: string;
  /** Clock (unix ms) for the one-second buckets; replicas' clocks are assumed within a second of each other. */
  readonly now?: () => number;
  /** Where the first failed token correction is reported (process.emitWarning by default). */
  readonly warn?: (message: string) => void;
}

/**
 * Requests and tokens per minute per key and team, shared by every hub on one Redis: the same
 * one-second buckets, headers and Retry-After as RateLimiter (tenancy/rate-limits.ts), with
 * check-every-limit-then-count done atomically in one Lua script.
 */
export class RedisRateLimits extends WritesBehind implements RateLimits {
  private readonly prefix: string;
  private readonly now: () => number;

  constructor(
    private readonly redis: Redis,
    o: RedisRateLimitsOptions = {},
  ) {
    super('a token count correction', o.warn);
    this.prefix = o.prefix ?? 'baimo:';
    this.now = o.now ?? Date.now;
  }



  /** Loads the scripts into Redis; optional (a script missing is loaded on its first call), for start-up. */
  async ready(): Promise<void> {
    await Promise.all([admitScript.load(this.redis), adjustScript.load(this.redis)]);
  }

  private key(account: string, what: 'r' | 't'): string {
    return `${this.prefix}rl:${what}:${account}`;
  }

  async admit(limits: readonly RateLimited[], tokens: number): Promise<RateVerdict> {
    if (limits.length === 0) return { ok: true, headers: {} };
    const keys: string[] = [];
    const args: (string | number)[] = [this.now(), Math.round(tokens)];
    for (const l of limits) {
      keys.push(this.key(l.account, 'r'), this.key(l.account, 't'));
      args.push(l.rpm ?? '', l.tpm ?? '');
    }
    const res = (await admitScript.run(this.redis, keys, args)) as (number | string)[];
    if (res[0] === 0) {
      const l = limits[Number(res[1]) - 1]!;
      const limit = res[2] as 'requests' | 'tokens';
      const max = (limit === 'requests' ? l.rpm : l.tpm)!;
      const used = Number(res[3]);
      const reset = Number(res[4]);
      return {
        ok: false,
        limit,
        account: l.account,
        retryAfterSeconds: reset,
        headers: {
          [`x-ratelimit-limit-${limit}`]: String(max),
          [`x-ratelimit-remaining-${limit}`]: String(Math.max(0, max - used)),
          [`x-ratelimit-reset-${limit}`]: `${reset}s`,
        },
      };
    }
    // As RateLimiter: each limit in order writes the headers, so the last that sets one wins.
    const headers: Record<string, string> = {};
    limits.forEach((l, i) => {
      const [requests, requestsReset, used, tokensReset] = res.slice(1 + 4 * i, 5 + 4 * i).map(Number) as [number, number, number, number];
      if (l.rpm !== undefined) {
        headers['x-ratelimit-limit-requests'] = String(l.rpm);
        headers['x-ratelimit-remaining-requests'] = String(Math.max(0, l.rpm - requests));
        headers['x-ratelimit-reset-requests'] = `${requestsReset}s`;
      }
      if (l.tpm !== undefined) {
        headers['x-ratelimit-limit-tokens'] = String(l.tpm);
        headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, l.tpm - used));
        headers['x-ratelimit-reset-tokens'] = `${tokensReset}s`;
      }
    });
    return { ok: true, headers };
  }

  /** Fire and forget: the request path never waits on it; a failure is counted (see `failures`). */
  adjustTokens(accounts: readonly string[], delta: number): void {
    const d = Math.round(delta);
    if (d === 0 || accounts.length === 0) return;
    const now = this.now();
    for (const a of accounts) this.corrections.add({ key: this.key(a, 't'), now, delta: d });
  }

  /**
   * Corrections of one event-loop turn go to Redis in one script call, summed per account and
   * second (each counts in the second it was made, as on one hub).
   */
  private readonly corrections = this.batch<{ readonly key: string; readonly now: number; readonly delta: number }>((batch) => {
    const sums = new Map<string, { key: string; now: number; delta: number }>();
    for (const c of batch) {
      const id = `${c.key} ${Math.floor(c.now / 1000)}`;
      const s = sums.get(id);
      if (s) s.delta += c.delta;
      else sums.set(id, { ...c });
    }
    const keys: string[] = [];
    const args: number[] = [];
    for (const s of sums.values()) {
      if (s.delta === 0) continue;
      keys.push(s.key);
      args.push(s.now, s.delta);
    }
    return keys.length ? adjustScript.run(this.redis, keys, args) : Promise.resolve();
  }, 1000);
}
