import { Script } from './script.js';

/**
 * The script of RedisLimits (limits.ts), run once per event-loop turn: FINISH, the settles and
 * token corrections of the turn, then ADMIT, its admissions. Every key a call touches is in KEYS,
 * once (arguments name them by index), and all share the prefix's hash tag, so one call may touch
 * them all in a Redis Cluster too.
 *
 * Rate windows: per account, two hashes (requests `rl:r:<account>`, tokens `rl:t:<account>`) of
 * one-second buckets: field = unix second, value = the count in that second; beside them `t`, the
 * total of the buckets still in the window, and `f`, the oldest second that may still hold a
 * bucket. Reading a window drops the seconds that left it (from `f` on, subtracting each from
 * `t`), so a check costs a few field reads whatever the traffic, not a read of all sixty buckets.
 * The hash expires 61 s after its last count, so an idle account leaves nothing behind. A hash
 * without `t` and `f` (written by an earlier version), or one whose `f` lags far behind, is summed
 * from its buckets once.
 *
 * Budgets: per account, spent this period (`spent:<account>:<period>:<start>`, a string of
 * integer nano-dollars; the period's start is in its name, so a new period starts from nothing),
 * reserved (`rsv:<account>`, a counter), and the reservations in flight: a ZSET id → expiry (ms,
 * `rsv:<account>:exp`) and a hash id → amount (`rsv:<account>:amt`), so the reservation of a
 * replica that crashed before it settled is swept once it expires.
 *
 * The layout is unchanged from the earlier per-request scripts (one each to check rates, reserve,
 * settle and correct), so an upgrade keeps every window, spend and reservation.
 */

/** Reading a rate window. Needs `sec` (the caller's second). */
const WINDOW = `
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
-- RateLimiter's MinuteWindow works them out), and its oldest second (nil: the window is empty
-- and the hash gone). Seconds that left the window are deleted and \`t\` and \`f\` written at once, so
-- the hash stays in step even if the call fails later on.
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

/**
 * Admissions. ARGV from `a` (where FINISH's end) to the end: the number of profiles, the
 * profiles, then per request: its profile's number, its tokens, its amount
 * (nano-USD) and its reservation id. A profile is what the requests of one key share: its number
 * of rate limits and of budgets, per rate limit the index of its requests and tokens hash, its rpm
 * and tpm ('' = none), per budget the index of its spent, reserved, expiries and amounts keys and
 * the budget (nano-USD). So a request adds four arguments to the call, whatever its limits.
 *
 * The requests are decided in order, each as if alone: every rate limit checked, then every
 * budget, and only if all allow it is the request counted on every window and its amount
 * reserved on every budget. A request refused for a budget counts as a request (not as tokens)
 * on its rate windows, as admission on separate stores has it. Each window and budget is read
 * once and written once per call, whatever the number of requests on it. Answers, per request:
 *   {1, per limit: requests used, their reset, tokens used, their reset}          admitted
 *   {0, limit index, 'requests'|'tokens', used, seconds until the oldest drops}   rate refused
 *   {'seed', budget index...}   a spent key is missing: seed it from the durable store, ask again
 *   {'no', budget index, spent, reserved}                                         budget refused
 */
const ADMIT = `
-- Windows by key index: total, reset, oldest second, what this call counts in this second.
local W = {}
local function win(i)
  local w = W[i]
  if w == nil then
    local t, reset, f = window(KEYS[i])
    w = {t = t, reset = reset, f = f, add = 0, counted = false}
    W[i] = w
  end
  return w
end
local function count(w, n)
  w.t = w.t + n
  w.add = w.add + n
  w.counted = true
  if w.f == nil or sec < w.f then w.f = sec end
end
-- Spent by key index (false: missing, to be seeded).
local S = {}
local function spent(i)
  local s = S[i]
  if s == nil then
    s = redis.call('GET', KEYS[i])
    s = s and tonumber(s) or false
    S[i] = s
  end
  return s
end
-- Reservations by reserved key index, expired ones swept on first use.
local B = {}
local function budget(ri, ei, ai)
  local b = B[ri]
  if b == nil then
    local reserved, expiries, amounts = KEYS[ri], KEYS[ei], KEYS[ai]
    local expired = redis.call('ZRANGEBYSCORE', expiries, '-inf', now)
    for _, rid in ipairs(expired) do
      local amt = redis.call('HGET', amounts, rid)
      if amt then
        redis.call('DECRBY', reserved, amt)
        redis.call('HDEL', amounts, rid)
      end
    end
    if #expired > 0 then redis.call('ZREMRANGEBYSCORE', expiries, '-inf', now) end
    b = {r = tonumber(redis.call('GET', reserved) or '0'), add = 0, e = ei, a = ai, h = {}, z = {}}
    B[ri] = b
  end
  return b
end

local function one(pr, tokens, amount, amountArg, id)
  local limits, budgets = pr.l, pr.b
  for i = 1, #limits do
    local l = limits[i]
    local r = win(l.r)
    if l.rpm and r.t + 1 > l.rpm then return {0, i, 'requests', r.t, r.reset} end
    local t = win(l.t)
    if l.tpm and t.t + tokens > l.tpm then return {0, i, 'tokens', t.t, t.reset} end
  end
  if #budgets > 0 then
    local missing
    for j = 1, #budgets do
      if spent(budgets[j].s) == false then
        missing = missing or {'seed'}
        missing[#missing + 1] = j
      end
    end
    if missing then return missing end
    for j = 1, #budgets do
      local g = budgets[j]
      local s = spent(g.s)
      local b = budget(g.r, g.e, g.a)
      if s + b.r + amount > g.max then
        for i = 1, #limits do count(win(limits[i].r), 1) end
        return {'no', j, s, b.r}
      end
    end
  end
  local out = {1}
  for i = 1, #limits do
    local r, t = win(limits[i].r), win(limits[i].t)
    -- Counting in the current second adds to the totals and leaves the oldest counted second
    -- (so the reset) as it was.
    count(r, 1)
    count(t, tokens)
    out[#out + 1] = r.t
    out[#out + 1] = r.reset
    out[#out + 1] = t.t
    out[#out + 1] = t.reset
  end
  for j = 1, #budgets do
    local g = budgets[j]
    local b = budget(g.r, g.e, g.a)
    b.r = b.r + amount
    b.add = b.add + amount
    b.h[#b.h + 1] = id
    b.h[#b.h + 1] = amountArg
    b.z[#b.z + 1] = now + ttl
    b.z[#b.z + 1] = id
  end
  return out
end

local profiles = {}
local p = a + 1
for k = 1, tonumber(ARGV[a]) do
  local nl, nb = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
  p = p + 2
  local limits, budgets = {}, {}
  for i = 1, nl do
    -- tonumber('') is nil: no such limit.
    limits[i] = {r = tonumber(ARGV[p]), t = tonumber(ARGV[p + 1]), rpm = tonumber(ARGV[p + 2]), tpm = tonumber(ARGV[p + 3])}
    p = p + 4
  end
  for j = 1, nb do
    budgets[j] = {s = tonumber(ARGV[p]), r = tonumber(ARGV[p + 1]), e = tonumber(ARGV[p + 2]), a = tonumber(ARGV[p + 3]), max = tonumber(ARGV[p + 4])}
    p = p + 5
  end
  profiles[k] = {l = limits, b = budgets}
end
local answers = {}
local n = #ARGV
while p <= n do
  answers[#answers + 1] = one(profiles[tonumber(ARGV[p])], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), ARGV[p + 2], ARGV[p + 3])
  p = p + 4
end

for i, w in pairs(W) do
  if w.counted then
    local key = KEYS[i]
    redis.call('HINCRBY', key, sec, w.add)
    redis.call('HSET', key, 't', w.t, 'f', w.f)
    redis.call('EXPIRE', key, 61)
  end
end
for ri, b in pairs(B) do
  if #b.h > 0 then
    local reserved, expiries, amounts = KEYS[ri], KEYS[b.e], KEYS[b.a]
    redis.call('INCRBY', reserved, b.add)
    redis.call('HSET', amounts, unpack(b.h))
    redis.call('ZADD', expiries, unpack(b.z))
    -- Every reservation in them expires by now + ttl: the three go together a minute after.
    redis.call('PEXPIRE', reserved, ttl + 60000)
    redis.call('PEXPIRE', expiries, ttl + 60000)
    redis.call('PEXPIRE', amounts, ttl + 60000)
  end
end
return answers
`;

/**
 * Settles and token corrections. ARGV from `a`: the number of profiles, the profiles, the
 * number of items, the items. A profile is the accounts a reservation was made on: their
 * number, then per account the index of its spent (this period), reserved, expiries and amounts
 * keys, and when its spent key expires (unix ms). An item is
 *   's', profile number, reservation id, actual cost (nano-USD)              a settle
 *   'c', index of a tokens hash, the second it counts in, the delta         a token correction
 * A settle releases its reservation where it is still held (not swept as expired, not released
 * by an earlier settle of the same id) and adds the actual cost to spent either way: the call
 * ran. A correction counts in the second it was made, as on one hub. Each key is written once.
 */
const FINISH = `
local profiles = {}
local np = tonumber(ARGV[a])
a = a + 1
for k = 1, np do
  local accounts = {}
  for i = 1, tonumber(ARGV[a]) do
    accounts[i] = {s = tonumber(ARGV[a + 1]), r = tonumber(ARGV[a + 2]), e = tonumber(ARGV[a + 3]), a = tonumber(ARGV[a + 4]), at = tonumber(ARGV[a + 5])}
    a = a + 5
  end
  a = a + 1
  profiles[k] = accounts
end
local R, S, C = {}, {}, {}
local items = tonumber(ARGV[a])
a = a + 1
for _ = 1, items do
  if ARGV[a] == 's' then
    local accounts, id, actual = profiles[tonumber(ARGV[a + 1])], ARGV[a + 2], tonumber(ARGV[a + 3])
    for i = 1, #accounts do
      local acc = accounts[i]
      local r = R[acc.r]
      if r == nil then
        r = {e = acc.e, a = acc.a, ids = {}, seen = {}}
        R[acc.r] = r
      end
      if not r.seen[id] then
        r.seen[id] = true
        r.ids[#r.ids + 1] = id
      end
      local s = S[acc.s]
      if s == nil then
        s = {add = 0, at = acc.at}
        S[acc.s] = s
      end
      s.add = s.add + actual
      if acc.at > s.at then s.at = acc.at end
    end
  else
    local ki, at, d = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local c = C[ki]
    if c == nil then
      c = {f = tonumber(redis.call('HGET', KEYS[ki], 'f')), t = 0, by = {}}
      C[ki] = c
    end
    c.by[at] = (c.by[at] or 0) + d
    c.t = c.t + d
    -- A replica whose clock runs behind counts in an earlier second: the oldest second follows it.
    if c.f == nil or at < c.f then c.f = at end
  end
  a = a + 4
end
for ri, r in pairs(R) do
  local reserved, expiries, amounts = KEYS[ri], KEYS[r.e], KEYS[r.a]
  local amts = redis.call('HMGET', amounts, unpack(r.ids))
  local release, held = 0, {}
  for k = 1, #r.ids do
    if amts[k] then
      release = release + tonumber(amts[k])
      held[#held + 1] = r.ids[k]
    end
  end
  if #held > 0 then
    redis.call('DECRBY', reserved, release)
    redis.call('HDEL', amounts, unpack(held))
    redis.call('ZREM', expiries, unpack(held))
  end
end
for si, s in pairs(S) do
  redis.call('INCRBY', KEYS[si], s.add)
  redis.call('PEXPIREAT', KEYS[si], s.at)
end
for ki, c in pairs(C) do
  local key = KEYS[ki]
  for at, d in pairs(c.by) do redis.call('HINCRBY', key, at, d) end
  redis.call('HINCRBY', key, 't', c.t)
  redis.call('HSET', key, 'f', c.f)
  redis.call('EXPIRE', key, 61)
end
`;

/**
 * One event-loop turn: KEYS, every key the call touches, once; ARGV: now (ms), reservation ttl
 * (ms), FINISH's arguments, ADMIT's. The settles and corrections are written first, so what they
 * release and give back counts for the admissions after them. Answers ADMIT's answers.
 */
const TURN = `
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local sec = math.floor(now / 1000)
local a = 3
do
${FINISH}
end
${WINDOW}
${ADMIT}
`;

export const turnScript = new Script(TURN);
