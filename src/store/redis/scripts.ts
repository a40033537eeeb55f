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
 * The hash expires 61 s after the first count of its last second, so an idle account leaves
 * nothing behind. A hash without `t` and `f` (written by an earlier version), or one whose `f`
 * lags far behind, is summed from its buckets once. A call reads a window's `t`, `f`, the current
 * second and the oldest second the window can hold in one HMGET, and writes the current second,
 * `t` and `f` in one HSET.
 *
 * Budgets: per account, spent this period (`spent:<account>:<period>:<start>`, a string of
 * integer nano-dollars; the period's start is in its name, so a new period starts from nothing)
 * and what is held for calls in flight, per replica: a hash `held:<account>`, field = a replica's
 * incarnation (a random id a process takes at start, and anew if it ever loses its lease), value
 * = the sum of that replica's reservations there. The replica knows its reservations one by one
 * (in memory); Redis only keeps their sum, so what a call holds and releases on an account is one
 * write of that field, however many requests it decides or settles. Each incarnation has a lease in `replicas` (ZSET incarnation →
 * expiry, ms), renewed by its replica every third of the lease while it holds anything. An
 * admission counts the fields whose lease is alive and deletes the others: the reservations of a
 * replica killed mid-call are freed once its lease has run out, never before. An incarnation
 * whose lease ran out is never used again (its replica takes a new one), so a release arriving
 * late cannot take from reservations made after the sweep; a release that finds less than it
 * takes deletes the field instead of leaving it negative.
 *
 * Grants: a replica with steady traffic on an account asks, with one of its admissions, for a
 * share of the account's headroom for the rest of the current second (requests and tokens on
 * each rate window, an amount on each budget), and then admits from it in memory. A grant is
 * counted at once exactly as admissions are (in the current second's bucket; held under the
 * replica's incarnation), and only when the account has at least nine times the grant left, so
 * nothing can be admitted beyond a limit. Its replica gives back what it did not use at the
 * start of the next second: a negative count in the grant's second, a release of the held
 * amount. Beside the windows, `grant:<account>` (a hash: `r`, `t`, `x` granted and not yet given
 * back, `s` the second of the latest grant) lets a refusal tell whether the grants outstanding
 * might be what refuses it: then it answers `wait` until they are back (a quarter second after
 * their second ends) instead of refusing; grants older than that count as used (their replica
 * died), so a limit is admitted exactly, never beyond and never short but for a dead replica.
 *
 * Upgrade from the per-request layout (a counter `rsv:<account>`, a ZSET id → expiry
 * `rsv:<account>:exp`, a hash id → amount `rsv:<account>:amt`, written by earlier versions):
 * those keys are left to the replicas that wrote them. An admission adds what the counter holds
 * (after sweeping its expired reservations, as earlier versions did) while an account has one;
 * RedisLimits asks for it on an account's first admission, then again at most once a minute
 * while it finds none, so a rolling upgrade neither counts a reservation twice nor loses one.
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
-- RateLimiter's MinuteWindow works them out), its oldest second (nil: the window is empty and
-- the hash gone), and the count stored in the current second (so a write can set it). \`c\`: token corrections of this call not yet written (by second, their
-- total \`t\` and oldest second \`f\`), counted as if they were. Seconds that left the window are
-- deleted and \`t\` and \`f\` written at once, so the hash stays in step even if the call fails
-- later on.
local function window(key, c)
  -- With the oldest second that can be in the window: under steady traffic the one the scan below stops at.
  local m = redis.call('HMGET', key, 't', 'f', sec, sec - 59)
  local t, f, cur, edge = tonumber(m[1]), tonumber(m[2]), tonumber(m[3]) or 0, tonumber(m[4])
  local stored = true
  if f == nil or t == nil or sec - 60 - f > 120 then
    if f == nil and t == nil and redis.call('EXISTS', key) == 0 then
      t, stored = 0, false
    else
      t, f = rebuild(key)
      if f == nil then
        redis.call('DEL', key)
        t, stored = 0, false
      else
        redis.call('HSET', key, 't', t, 'f', f)
      end
    end
  else
    local f0 = f
    while f <= sec - 60 do
      local v = redis.call('HGET', key, f)
      if v then
        t = t - tonumber(v)
        redis.call('HDEL', key, f)
      end
      f = f + 1
    end
    if f ~= f0 then redis.call('HSET', key, 't', t, 'f', f) end
  end
  if c then
    t = t + c.t
    if f == nil or c.f < f then f = c.f end
  end
  if f == nil then return 0, 60, nil, 0 end
  -- From the oldest possible second on: the first bucket there is becomes the oldest second,
  -- and the first positive one sets the reset.
  local first, oldest = nil, sec
  for s = f, sec do
    local v = nil
    if s == sec then
      if cur ~= 0 then v = cur end
    elseif s == sec - 59 then
      v = edge
    elseif stored then
      v = tonumber(redis.call('HGET', key, s))
    end
    if c and c.by[s] then v = (v or 0) + c.by[s] end
    if v then
      if first == nil then first = s end
      if v > 0 then
        oldest = s
        break
      end
    end
  end
  return t, math.max(1, oldest + 60 - sec), first or f, cur
end
`;

/**
 * Admissions. ARGV from `a` (where FINISH's end) to the end: the number of profiles, the
 * profiles, then per request: its profile's number, its tokens and its amount (nano-USD). A
 * profile is what the requests of one key share: its number of rate limits and of budgets, per
 * rate limit the index of its requests and tokens hash, its rpm and tpm ('' = none), per budget
 * the index of its spent and held keys, the budget (nano-USD), the indexes of the account's
 * earlier-layout counter, expiries and amounts keys (0: not asked this call), '1' to push
 * back the held key's expiry; and per rate limit and per budget, the index of the account's grant
 * hash and the grant asked (requests and tokens; nano-USD). So a request adds four arguments to
 * the call, whatever its limits: the fourth is 1 when it asks for the profile's grant, plus 2 when
 * it has waited for grants once already (then it is refused rather than made to wait again:
 * others' steady traffic may keep grants outstanding on an account for ever).
 *
 * The requests are decided in order, each as if alone: every rate limit checked, then every
 * budget, and only if all allow it is the request counted on every window and its amount held
 * on every budget, under this replica's incarnation (`me`), whose lease is checked (and made, on
 * its first reservation) once per call. A request refused for a budget counts as a request (not
 * as tokens) on its rate windows, as admission on separate stores has it. Each window and budget
 * is read once and written once per call, whatever the number of requests on it. Answers, per
 * request:
 *   {1, per limit: requests used, their reset, tokens used, their reset}          admitted
 *     and, when it asked for a grant: per limit the requests and tokens granted (0: none) and
 *     the window's totals after them; per budget the amount granted
 *   {'wait', ms}   refused unless grants outstanding come back: ask again in ms
 *   {0, limit index, 'requests'|'tokens', used, seconds until the oldest drops}   rate refused
 *   {'seed', budget index...}   a spent key is missing: seed it from the durable store, ask again
 *   {'no', budget index, spent, reserved}                                         budget refused
 *   {'lease'}   this incarnation's lease ran out: take a new incarnation, ask again
 * and after them, the held keys (indexes) of the accounts whose earlier-layout reservations were
 * read and found to be none.
 */
const ADMIT = `
-- Windows by key index: total, reset, oldest second, what this call counts in this second.
local W = {}
local function win(i)
  local w = W[i]
  if w == nil then
    -- This call's token corrections on it are written with its counts, in one write.
    local c = C[i]
    C[i] = nil
    local t, reset, f, cur = window(KEYS[i], c)
    w = {t = t, reset = reset, f = f, cur = cur, add = 0, counted = c ~= nil, by = c and c.by}
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
-- Whether this incarnation's lease is alive: checked on the call's first reservation; an
-- incarnation never seen gets its lease there, with its first reservation.
local mine
local function alive()
  if mine == nil then
    local s = redis.call('ZSCORE', KEYS[1], me)
    if s then
      mine = tonumber(s) >= now
    else
      redis.call('ZADD', KEYS[1], now + lease, me)
      redis.call('PEXPIRE', KEYS[1], lease + 86400000)
      mine = true
    end
  end
  return mine
end
-- What an earlier version's replicas hold on the account, their expired reservations swept as
-- those versions did; \`none\`, the held keys of the accounts found holding nothing there.
local none = {}
local function earlier(g)
  local reserved = tonumber(redis.call('GET', KEYS[g.lr]) or '0')
  if reserved <= 0 then
    none[#none + 1] = g.h
    return 0
  end
  local expired = redis.call('ZRANGEBYSCORE', KEYS[g.le], '-inf', now)
  for _, rid in ipairs(expired) do
    local amt = redis.call('HGET', KEYS[g.la], rid)
    if amt then
      reserved = reserved - tonumber(amt)
      redis.call('DECRBY', KEYS[g.lr], amt)
      redis.call('HDEL', KEYS[g.la], rid)
    end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[g.le], '-inf', now) end
  return math.max(0, reserved)
end
-- Held by key index: the sum over the incarnations whose lease is alive (this one's is: it asks);
-- the fields of the others are deleted, so a dead replica's reservations are freed. This call's
-- releases on it (\`P\`, from FINISH) are taken off first; this incarnation's field is written once,
-- at the end, with what the call released and holds anew.
local H = {}
local function held(g)
  local h = H[g.h]
  if h == nil then
    local key = KEYS[g.h]
    local flat = redis.call('HGETALL', key)
    local rel = P[g.h] or {}
    P[g.h] = nil
    local r, keep, mine, set, names, amounts = 0, 0, 0, false, {}, {}
    for i = 1, #flat, 2 do
      local name, v = flat[i], tonumber(flat[i + 1])
      local x = rel[name]
      if x then
        v = x.drop and 0 or v - x.amt
      end
      if name == me then
        mine, set = v, x ~= nil
        if v > 0 then
          r = r + v
          keep = keep + 1
        end
      elseif v > 0 then
        if x then redis.call('HSET', key, name, v) end
        names[#names + 1] = name
        amounts[#amounts + 1] = v
      elseif x then
        redis.call('HDEL', key, name)
      end
    end
    if #names > 0 then
      local leases = redis.call('ZMSCORE', KEYS[1], unpack(names))
      local dead = {}
      for k = 1, #names do
        if leases[k] and tonumber(leases[k]) >= now then
          r = r + amounts[k]
          keep = keep + 1
        else
          dead[#dead + 1] = names[k]
        end
      end
      if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
    end
    if g.lr > 0 then r = r + earlier(g) end
    h = {r = r, add = 0, mine = mine, set = set, keep = keep, x = g.x}
    H[g.h] = h
  end
  return h
end

-- Grant hashes by key index: what is granted and not given back (r, t, x), the latest grant's
-- second (s), and what this call grants on top (to be written at the end).
local G = {}
local function grants(gi)
  local g = G[gi]
  if g == nil then
    local m = redis.call('HMGET', KEYS[gi], 'r', 't', 'x', 's')
    g = {r = tonumber(m[1]) or 0, t = tonumber(m[2]) or 0, x = tonumber(m[3]) or 0, s = tonumber(m[4]) or -1, dr = 0, dt = 0, dx = 0}
    -- Grants of a second before the last are counted as used (see waiting): no longer outstanding.
    if g.s < sec - 1 then g.r, g.t, g.x = 0, 0, 0 end
    G[gi] = g
  end
  return g
end
-- A refusal by \`over\` (what the request exceeds its limit by) that the grants outstanding on
-- the account (field \`f\`) may cause: their replicas give them back by a quarter second after
-- the second they were made in; until then the caller waits and asks again. Later, they count as used.
local function waiting(gi, f, over)
  local g = grants(gi)
  local ms = (g.s + 1) * 1000 + 250 - now
  if ms > 0 and g[f] >= over then return {'wait', ms} end
  return nil
end
-- Grants the profile's share of every account, all or none: only where each has nine times its grant left.
local function grant(pr, out)
  local limits, budgets = pr.l, pr.b
  local ok = true
  for i = 1, #limits do
    local l = limits[i]
    if l.rpm and l.rpm - win(l.r).t < 9 * l.wr then ok = false end
    if l.tpm and l.tpm - win(l.t).t < 9 * l.wt then ok = false end
  end
  for j = 1, #budgets do
    local g = budgets[j]
    if g.max - spent(g.s) - held(g).r < 9 * g.wx then ok = false end
  end
  for i = 1, #limits do
    local l = limits[i]
    local r, t = win(l.r), win(l.t)
    if ok then
      count(r, l.wr)
      count(t, l.wt)
      local g = grants(l.g)
      g.dr = g.dr + l.wr
      g.dt = g.dt + l.wt
    end
    out[#out + 1] = ok and l.wr or 0
    out[#out + 1] = ok and l.wt or 0
    out[#out + 1] = r.t
    out[#out + 1] = t.t
  end
  for j = 1, #budgets do
    local b = budgets[j]
    if ok then
      local h = held(b)
      h.r = h.r + b.wx
      h.add = h.add + b.wx
      local g = grants(b.g)
      g.dx = g.dx + b.wx
    end
    out[#out + 1] = ok and b.wx or 0
  end
end

local function one(pr, tokens, amount, want, patient)
  local limits, budgets = pr.l, pr.b
  local waiting = patient and waiting or function() return nil end
  for i = 1, #limits do
    local l = limits[i]
    local r = win(l.r)
    if l.rpm and r.t + 1 > l.rpm then return waiting(l.g, 'r', r.t + 1 - l.rpm) or {0, i, 'requests', r.t, r.reset} end
    local t = win(l.t)
    if l.tpm and t.t + tokens > l.tpm then return waiting(l.g, 't', t.t + tokens - l.tpm) or {0, i, 'tokens', t.t, t.reset} end
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
      local h = held(g)
      if s + h.r + amount > g.max then
        local w = waiting(g.g, 'x', s + h.r + amount - g.max)
        if w then return w end
        for i = 1, #limits do count(win(limits[i].r), 1) end
        return {'no', j, s, h.r}
      end
    end
    if not alive() then return {'lease'} end
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
    local h = held(budgets[j])
    h.r = h.r + amount
    h.add = h.add + amount
  end
  if want then grant(pr, out) end
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
    limits[i] = {r = tonumber(ARGV[p]), t = tonumber(ARGV[p + 1]), rpm = tonumber(ARGV[p + 2]), tpm = tonumber(ARGV[p + 3]), g = tonumber(ARGV[p + 4]), wr = tonumber(ARGV[p + 5]), wt = tonumber(ARGV[p + 6])}
    p = p + 7
  end
  for j = 1, nb do
    budgets[j] = {s = tonumber(ARGV[p]), h = tonumber(ARGV[p + 1]), max = tonumber(ARGV[p + 2]), lr = tonumber(ARGV[p + 3]), le = tonumber(ARGV[p + 4]), la = tonumber(ARGV[p + 5]), x = ARGV[p + 6] == '1', g = tonumber(ARGV[p + 7]), wx = tonumber(ARGV[p + 8])}
    p = p + 9
  end
  profiles[k] = {l = limits, b = budgets}
end
local answers = {}
local n = #ARGV
while p <= n do
  local flags = tonumber(ARGV[p + 3])
  answers[#answers + 1] = one(profiles[tonumber(ARGV[p])], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), flags % 2 == 1, flags < 2)
  p = p + 4
end

for i, w in pairs(W) do
  if w.counted then
    local key = KEYS[i]
    local now_count = w.cur + w.add
    if w.by then
      for s, d in pairs(w.by) do
        if s == sec then
          now_count = now_count + d
        elseif d ~= 0 then
          redis.call('HINCRBY', key, s, d)
        end
      end
    end
    -- The current second's count, read with the window, is set with the total and oldest second in one write.
    redis.call('HSET', key, sec, now_count, 't', w.t, 'f', w.f)
    -- 61 s from the first count in this second on: every count of this second is gone from the
    -- window by then (counts later in the same second find their expiry set already).
    if w.cur == 0 then redis.call('EXPIRE', key, 61) end
  end
end
for hi, h in pairs(H) do
  local key = KEYS[hi]
  local v = h.mine + h.add
  if h.set then
    if v > 0 then redis.call('HSET', key, me, v) else redis.call('HDEL', key, me) end
  elseif h.add > 0 then
    redis.call('HINCRBY', key, me, h.add)
  end
  -- Every reservation in it is released or expired (by its replica) by then. Set when the hash
  -- is made here, and when the replica asks (at most once a minute per account).
  if v > 0 and (h.x or h.keep == 0) then redis.call('PEXPIRE', key, heldTtl) end
end
-- Grants made and given back: outstanding never below nothing (a grant counted as used, then given back late).
for gi, g in pairs(G) do
  if g.dr ~= 0 or g.dt ~= 0 or g.dx ~= 0 then
    local key = KEYS[gi]
    redis.call('HSET', key, 'r', math.max(0, g.r + g.dr), 't', math.max(0, g.t + g.dt), 'x', math.max(0, g.x + g.dx), 's', sec)
    redis.call('EXPIRE', key, 120)
  end
end
-- Releases and corrections on keys no admission of this call read.
for hi, rel in pairs(P) do
  local key = KEYS[hi]
  for inc, x in pairs(rel) do
    -- Never negative: a field swept (its lease ran out) and released late is not made again.
    if x.drop or redis.call('HINCRBY', key, inc, -x.amt) <= 0 then redis.call('HDEL', key, inc) end
  end
end
for ki, c in pairs(C) do
  local key = KEYS[ki]
  local f = tonumber(redis.call('HGET', key, 'f'))
  -- A replica whose clock runs behind counts in an earlier second: the oldest second follows it.
  if f == nil or c.f < f then f = c.f end
  for at, d in pairs(c.by) do redis.call('HINCRBY', key, at, d) end
  redis.call('HINCRBY', key, 't', c.t)
  redis.call('HSET', key, 'f', f)
  redis.call('EXPIRE', key, 61)
end
answers[#answers + 1] = none
return answers
`;

/**
 * Settles, releases and token corrections, summed by the replica (limits.ts) per key. ARGV from
 * `a`: the spends (their number, then each: index of a spent key, the cost to add (nano-USD),
 * when the key expires (unix ms), '1' if that expiry slides with every write (a `total` budget)),
 * the releases (their number, then each: index of a held key, the incarnation, the amount,
 * '1' to drop the incarnation's field: its replica holds nothing more there), the
 * corrections (their number, then each: index of a rate hash, the second it counts in, the
 * delta: tokens counted at admission against those used, or a grant's unused part), the grants
 * given back (their number, then each: index of a grant hash, the requests, tokens and amount
 * granted). A settle adds what its call cost to spent whether or not its reservation was still
 * held — where the spent key exists: a missing one is seeded later from the durable store. A correction counts in the second it was made, as on one hub. Spends are written here;
 * releases and corrections are only gathered (`P`, `C`), and written by ADMIT together with
 * what it holds and counts on the same keys, so each key is written once per call.
 */
const FINISH = `
for _ = 1, tonumber(ARGV[a]) do
  local key, add, at = KEYS[tonumber(ARGV[a + 1])], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  -- Only onto a spend that is there: a key Redis lost (a restart, an eviction) is seeded from the
  -- durable store, which has this call's record too, and a spend started here would stop that
  -- seed (SET NX) and hide every earlier cost. A fixed expiry is set where the key is seeded, a
  -- sliding one (a \`total\` budget) with every write.
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCRBY', key, add)
    if ARGV[a + 4] == '1' then redis.call('PEXPIREAT', key, at) end
  end
  a = a + 4
end
a = a + 1
-- Releases by held key index, by incarnation: written by ADMIT (where it reads the key, or after).
local P = {}
for _ = 1, tonumber(ARGV[a]) do
  local hi = tonumber(ARGV[a + 1])
  P[hi] = P[hi] or {}
  P[hi][ARGV[a + 2]] = {amt = tonumber(ARGV[a + 3]), drop = ARGV[a + 4] == '1'}
  a = a + 4
end
a = a + 1
-- Token corrections by tokens hash index: by second, their total and oldest second; written by ADMIT.
local C = {}
for _ = 1, tonumber(ARGV[a]) do
  local ki, at, d = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local c = C[ki]
  if c == nil then
    c = {by = {}, t = 0, f = at}
    C[ki] = c
  end
  c.by[at] = (c.by[at] or 0) + d
  c.t = c.t + d
  if at < c.f then c.f = at end
  a = a + 3
end
a = a + 1
-- Grants given back (their unused counts come as corrections, their unused amounts as releases, above).
for _ = 1, tonumber(ARGV[a]) do
  local key = KEYS[tonumber(ARGV[a + 1])]
  local m = redis.call('HMGET', key, 'r', 't', 'x')
  if m[1] or m[2] or m[3] then
    redis.call('HSET', key, 'r', math.max(0, (tonumber(m[1]) or 0) - tonumber(ARGV[a + 2])), 't', math.max(0, (tonumber(m[2]) or 0) - tonumber(ARGV[a + 3])), 'x', math.max(0, (tonumber(m[3]) or 0) - tonumber(ARGV[a + 4])))
  end
  a = a + 4
end
a = a + 1
`;

/**
 * One event-loop turn: KEYS[1], the incarnations' leases, then every other key the call touches,
 * once; ARGV: now (ms), how long a held hash outlives its last reservation (ms), this replica's
 * incarnation, its lease (ms), FINISH's arguments, ADMIT's. The settles and corrections are
 * written first, so what they release and give back counts for the admissions after them.
 * Answers ADMIT's answers.
 */
const TURN = `
local now, heldTtl, me, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local sec = math.floor(now / 1000)
local a = 5
${FINISH}
${WINDOW}
${ADMIT}
`;

export const turnScript = new Script(TURN);

/**
 * Renews an incarnation's lease, as its replica does every third of the lease while it holds
 * anything: KEYS[1] the leases; ARGV: the incarnation, now, the new expiry (ms). Answers 1
 * (renewed), 0 (it had run out: the replica must take a new incarnation, and count what it held
 * under this one as freed) or 2 (no lease: nothing reserved under it yet, or gone a day after it
 * ran out). Leases that ran out a day ago go (by then every admission has swept their fields).
 */
export const leaseScript = new Script(`
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 86400000)
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return 2 end
if tonumber(s) < now then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) - now + 86400000)
return 1
`);
