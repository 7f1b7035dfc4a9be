"""The Lua scripts behind per-key rate limits: each check-and-count runs atomically inside Redis.

Time is Redis's own clock (``TIME``, in milliseconds), so replicas with skewed clocks agree on
what is inside the window and which budget period it is. ``limits.py`` holds the Python twin of
every rule here (the per-process limiter); keep them together.

Keys (all under one hash tag ``{prefix}`` so the scripts also run on a Redis Cluster node):

- ``{prefix}:rl:req:<key_id>``: sorted set, one member per admitted request (a random id),
  scored by its time in ms.
- ``{prefix}:rl:tok:<key_id>``: sorted set, one member per charge, ``<random id>:<tokens>``,
  scored by its time in ms; ``{prefix}:rl:toksum:<key_id>`` holds the sum of its tokens, so a
  check costs O(log n) instead of a walk over the window.
- ``{prefix}:rl:budget:<key_id>:<period>``: a counter of tokens per calendar period (UTC), the
  period label appended by the script from Redis's clock (``2026-12`` a month, ``2026-12-07`` a
  day, ``W2026-12-07`` the week starting on that Monday). The key name is built inside the script
  from the declared base key; it carries the same hash tag, so it lives in the same cluster slot.
"""

# Calendar arithmetic in UTC from days since 1970-01-01 (Lua numbers are doubles: exact here).
# period(ms, kind) -> label, ms at which the period ends. limits.period_of is its Python twin.
CALENDAR = """
local function leaps_through(y)
  return math.floor(y / 4) - math.floor(y / 100) + math.floor(y / 400)
end
-- days from 1970-01-01 to January 1st of year y (477 leap years fall in 1..1969)
local function year_start(y)
  return 365 * (y - 1970) + leaps_through(y - 1) - 477
end
local MONTH_OFFSET = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334}
-- days from 1970-01-01 to the first day of month m (1..13) of year y
local function month_start(y, m)
  if m == 13 then return year_start(y + 1) end
  local d = year_start(y) + MONTH_OFFSET[m]
  if m > 2 and ((y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0) then d = d + 1 end
  return d
end
local function civil(days)
  local y = 1970 + math.floor(days / 365.2425)
  while year_start(y) > days do y = y - 1 end
  while year_start(y + 1) <= days do y = y + 1 end
  local m = 1
  while m < 12 and month_start(y, m + 1) <= days do m = m + 1 end
  return y, m, days - month_start(y, m) + 1
end
local function period(ms, kind)
  local days = math.floor(ms / 86400000)
  if kind == 'day' then
    local y, m, d = civil(days)
    return string.format('%04d-%02d-%02d', y, m, d), (days + 1) * 86400000
  elseif kind == 'week' then
    local monday = days - (days + 3) % 7
    local y, m, d = civil(monday)
    return string.format('W%04d-%02d-%02d', y, m, d), (monday + 7) * 86400000
  end
  local y, m = civil(days)
  return string.format('%04d-%02d', y, m), month_start(y, m + 1) * 86400000
end
"""

# Shared by the scripts below: the clock, and the token window kept with its running sum.
_COMMON = CALENDAR + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function tokens_of(member)
  return tonumber(string.match(member, ':(%d+)$')) or 0
end

-- Drop the charges that left the window; return the tokens of those still in it. The sum is
-- rebuilt from the set if it was lost (eviction), so it cannot drift for long.
local function token_total(zkey, skey, cutoff, keep_ms)
  local gone = redis.call('ZRANGEBYSCORE', zkey, '-inf', cutoff)
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff) end
  if redis.call('ZCARD', zkey) == 0 then
    redis.call('DEL', skey)
    return 0
  end
  local total = tonumber(redis.call('GET', skey) or '-1')
  if total >= 0 and #gone > 0 then
    local n = 0
    for i = 1, #gone do n = n + tokens_of(gone[i]) end
    total = redis.call('DECRBY', skey, n)
  end
  if total < 0 then
    total = 0
    for _, m in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do total = total + tokens_of(m) end
    redis.call('SET', skey, total, 'PX', keep_ms)
  end
  return total
end
"""

# KEYS[1] requests, KEYS[2] token window, KEYS[3] its sum, KEYS[4] budget base key.
# ARGV: member, window_ms, requests limit, tokens limit, budget, period kind (limits: 0 = none).
# Returns {1, 0, requests in the window with this one (-1: not counted), ms until the window is empty}
#      or {0, reason (1 requests, 2 tokens per minute, 3 budget), 0, ms until there is room}.
# A refused request is not counted.
ADMIT = _COMMON + """
local member, window = ARGV[1], tonumber(ARGV[2])
local rpm, tpm, budget, kind = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local cutoff = now - window
local keep = window + 1000

if tpm > 0 then
  local used = token_total(KEYS[2], KEYS[3], cutoff, keep)
  if used >= tpm then
    -- room comes back when enough of the oldest charges have left the window
    local need, freed, start = used - tpm + 1, 0, 0
    while true do
      local batch = redis.call('ZRANGE', KEYS[2], start, start + 99, 'WITHSCORES')
      if #batch == 0 then return {0, 2, 0, window} end
      for i = 1, #batch, 2 do
        freed = freed + tokens_of(batch[i])
        if freed >= need then return {0, 2, 0, math.max(1, tonumber(batch[i + 1]) + window - now)} end
      end
      start = start + 100
    end
  end
end

if budget > 0 then
  local label, ends = period(now, kind)
  local used = tonumber(redis.call('GET', KEYS[4] .. ':' .. label) or '0')
  if used >= budget then return {0, 3, 0, math.max(1, ends - now)} end
end

if rpm <= 0 then return {1, 0, -1, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
local count = redis.call('ZCARD', KEYS[1])
if count >= rpm then
  -- the request whose leaving brings the count below the limit (the oldest, unless it was lowered)
  local first = redis.call('ZRANGE', KEYS[1], count - rpm, count - rpm, 'WITHSCORES')
  return {0, 1, 0, math.max(1, tonumber(first[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], keep)
return {1, 0, count + 1, window}
"""

# KEYS[1] token window, KEYS[2] its sum, KEYS[3] budget base key.
# ARGV: member ("<id>:<tokens>"), tokens, window_ms, count per minute (1/0), count budget (1/0), period kind.
CHARGE = _COMMON + """
local member, tokens, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local keep = window + 1000
if ARGV[4] == '1' then
  token_total(KEYS[1], KEYS[2], now - window, keep)
  redis.call('ZADD', KEYS[1], now, member)
  redis.call('INCRBY', KEYS[2], tokens)
  redis.call('PEXPIRE', KEYS[1], keep)
  redis.call('PEXPIRE', KEYS[2], keep)
end
if ARGV[5] == '1' then
  local label, ends = period(now, ARGV[6])
  local key = KEYS[3] .. ':' .. label
  redis.call('INCRBY', key, tokens)
  -- kept one day past the period's end, for operators to read last period's use
  redis.call('PEXPIREAT', key, ends + 86400000)
end
return 1
"""

# KEYS as ADMIT. ARGV: window_ms, period kind.
# Returns {requests in the window, tokens in the window, budget used this period, period label}.
USAGE = _COMMON + """
local window = tonumber(ARGV[1])
local cutoff = now - window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
local requests = redis.call('ZCARD', KEYS[1])
local tokens = token_total(KEYS[2], KEYS[3], cutoff, window + 1000)
local label = period(now, ARGV[2])
local budget = tonumber(redis.call('GET', KEYS[4] .. ':' .. label) or '0')
return {requests, tokens, budget, label}
"""
