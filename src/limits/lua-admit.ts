// Lua run inside Redis (EVALSHA via ioredis defineCommand).
// Shared prelude: prune one user's token log and keep the running sum (KEYS 2, 3, 4) in step.
export const pruneTokensLua = `
local function prune_tokens(tokens_zset, tokens_hash, tokens_sum, cutoff)
  local expired = redis.call('ZRANGEBYSCORE', tokens_zset, '-inf', cutoff)
  if #expired == 0 then return end
  local removed = 0
  for i = 1, #expired, 500 do
    local chunk = {unpack(expired, i, math.min(i + 499, #expired))}
    for _, v in ipairs(redis.call('HMGET', tokens_hash, unpack(chunk))) do removed = removed + (tonumber(v) or 0) end
    redis.call('HDEL', tokens_hash, unpack(chunk))
  end
  redis.call('ZREMRANGEBYSCORE', tokens_zset, '-inf', cutoff)
  redis.call('DECRBY', tokens_sum, removed)
end
`

// Atomic admission for one user's sliding window (exact log; O(log n) per request).
// KEYS: 1 requests zset (id → admitted at), 2 tokens zset (id → counted from), 3 tokens hash (id → n),
//       4 tokens running sum, 5 users hash
// ARGV: 1 now ms, 2 request id, 3 tokens to reserve, 4 window ms, 5 user,
//       6/7 config rpm/tpm ('' when not in config), 8/9 default rpm/tpm ('' when unknown users are refused)
export const admitLua = `${pruneTokensLua}
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[4])
local rpm, tpm
local stored = redis.call('HGET', KEYS[5], ARGV[5])
if stored then
  local rec = cjson.decode(stored)
  rpm, tpm = tonumber(rec.rpm), tonumber(rec.tpm)
elseif ARGV[6] ~= '' then
  rpm, tpm = tonumber(ARGV[6]), tonumber(ARGV[7])
elseif ARGV[8] ~= '' then
  rpm, tpm = tonumber(ARGV[8]), tonumber(ARGV[9])
else
  return {-1}
end

local cutoff = now - window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
prune_tokens(KEYS[2], KEYS[3], KEYS[4], cutoff)
local requests = redis.call('ZCARD', KEYS[1])
local tokens = tonumber(redis.call('GET', KEYS[4]) or '0')

local function reset(key)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #oldest == 0 then return 0 end
  return math.max(0, tonumber(oldest[2]) + window - now)
end

if requests >= rpm then
  local nth = redis.call('ZRANGE', KEYS[1], requests - rpm, requests - rpm, 'WITHSCORES')
  local retry = math.max(1, tonumber(nth[2]) + window - now)
  return {0, rpm, tpm, requests, tokens, reset(KEYS[1]), reset(KEYS[2]), 1, retry}
end
if tokens >= tpm then
  -- walk the log oldest first until the window would fall below the limit (refusals only)
  local ids = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local left, retry = tokens, 1
  for i = 1, #ids, 2 do
    left = left - (tonumber(redis.call('HGET', KEYS[3], ids[i])) or 0)
    if left < tpm then retry = math.max(1, tonumber(ids[i + 1]) + window - now) break end
  end
  return {0, rpm, tpm, requests, tokens, reset(KEYS[1]), reset(KEYS[2]), 2, retry}
end

local reserve = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], reserve)
redis.call('INCRBY', KEYS[4], reserve)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], window + 1000) end
return {1, rpm, tpm, requests + 1, tokens + reserve, reset(KEYS[1]), reset(KEYS[2])}
`
