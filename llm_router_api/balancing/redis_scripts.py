"""The Lua scripts behind cluster-wide slots: each check-and-take runs atomically inside Redis.

Time is Redis's own clock (``TIME``), so replicas with skewed clocks agree on when a lease
expires. A slot is a member of a sorted set per provider: the owner token, scored by its expiry
in milliseconds. Expired members are dropped before every count, so a slot held by a killed
worker comes back within the lease TTL without anyone cleaning up. A model's line is a sorted
set of waiting tokens scored by their deadline (earliest deadline first).

Keys are built by ``redis_slots.KeySpace``; all share one hash tag, so the scripts also run on
a Redis Cluster node.
"""

# KEYS[1] the model's line; KEYS[1+i] the slots of candidate i; KEYS[1+n+i] its host's affinity.
# ARGV: token, ttl_ms, wait_ms, pick, model, n, then per candidate: limit (-1 = none), weight, tier.
# Returns {i, in_flight} when candidate i was taken, else {0, ms until a held slot expires or -1}.
# choose() in slots.py is the same rule in Python; keep them together.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token, ttl, wait_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local pick, model, n = ARGV[4], ARGV[5], tonumber(ARGV[6])
local line = KEYS[1]

local function extend(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end

redis.call('ZREMRANGEBYSCORE', line, '-inf', now)
local counts, limits, weights, tiers = {}, {}, {}, {}
local free = 0
for i = 1, n do
  local key = KEYS[1 + i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  counts[i] = redis.call('ZCARD', key)
  limits[i] = tonumber(ARGV[6 + 3 * i - 2])
  weights[i] = tonumber(ARGV[6 + 3 * i - 1])
  tiers[i] = tonumber(ARGV[6 + 3 * i])
  if limits[i] < 0 then free = free + 1e15
  elseif counts[i] < limits[i] then free = free + limits[i] - counts[i] end
end

local mine = redis.call('ZSCORE', line, token)
local ahead
if mine then ahead = redis.call('ZCOUNT', line, '-inf', '(' .. mine)
else ahead = redis.call('ZCARD', line) end

local function affinity_rank(i)
  local served = redis.call('GET', KEYS[1 + n + i])
  if served == model then return 0 elseif not served then return 1 else return 2 end
end

local function choose()
  for tier = 0, 1 do
    local best, best_score = nil, nil
    for i = 1, n do
      if tiers[i] == tier and (limits[i] < 0 or counts[i] < limits[i]) then
        if pick == 'ordered' then return i end
        local score
        if pick == 'least' then
          if weights[i] > 0 then score = (counts[i] + 1) / weights[i] else score = 1e12 + counts[i] end
        else
          score = affinity_rank(i)
        end
        if best_score == nil or score < best_score then best, best_score = i, score end
      end
    end
    if best then return best end
  end
  return nil
end

if ahead < free then
  local i = choose()
  if i then
    local key = KEYS[1 + i]
    redis.call('ZADD', key, now + ttl, token)
    extend(key, ttl + 1000)
    if mine then redis.call('ZREM', line, token) end
    if pick == 'affinity' then redis.call('SET', KEYS[1 + n + i], model, 'PX', 86400000) end
    return {i, counts[i] + 1}
  end
end

if wait_ms > 0 and not mine then
  redis.call('ZADD', line, now + wait_ms, token)
  extend(line, wait_ms + 1000)
end
local soonest = -1
for i = 1, n do
  if limits[i] >= 0 and counts[i] >= limits[i] then
    local first = redis.call('ZRANGE', KEYS[1 + i], 0, 0, 'WITHSCORES')
    if first[2] then
      local left = tonumber(first[2]) - now
      if soonest < 0 or left < soonest then soonest = left end
    end
  end
end
return {0, soonest}
"""

# KEYS[1] the provider's slots. ARGV: token, channel, provider id. Returns 1 if the slot was held.
# Only a slot actually given back wakes waiters, so a double release cannot wake anyone twice.
RELEASE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return removed
"""

# KEYS: slots keys; ARGV: ttl_ms, then one token per key. Extends leases still held; a lease
# already released or expired is never brought back. Returns how many were no longer held.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local lost = 0
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[1 + i]) then
    redis.call('ZADD', KEYS[i], 'XX', now + ttl, ARGV[1 + i])
  else
    lost = lost + 1
  end
  if redis.call('PTTL', KEYS[i]) < ttl + 1000 then redis.call('PEXPIRE', KEYS[i], ttl + 1000) end
end
return lost
"""

# KEYS[1] the model's line. ARGV: token, channel. Leaving may let the next in line take a slot;
# the empty message wakes every waiter of the receiving workers.
LEAVE_LINE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 and redis.call('ZCARD', KEYS[1]) > 0 then redis.call('PUBLISH', ARGV[2], '') end
return removed
"""

# KEYS: slots keys. Returns the live count of each, expired leases dropped first.
COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts = {}
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  counts[i] = redis.call('ZCARD', KEYS[i])
end
return counts
"""
