// Lua run inside Redis (EVALSHA via ioredis defineCommand).
export const admitLua = `
-- Atomic admission for one user's sliding 60 s window (exact log).
-- KEYS: 1 requests zset (id → admitted at), 2 tokens zset (id → counted from), 3 tokens hash (id → n), 4 users hash
-- ARGV: 1 now ms, 2 request id, 3 tokens to reserve, 4 window ms, 5 user,
--       6/7 config rpm/tpm ('' when not in config), 8/9 default rpm/tpm ('' when unknown users are refused)
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[4])
local rpm, tpm
local stored = redis.call('HGET', KEYS[4], ARGV[5])
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
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff)
for i = 1, #expired, 500 do
  redis.call('HDEL', KEYS[3], unpack(expired, i, math.min(i + 499, #expired)))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)

local requests = redis.call('ZCARD', KEYS[1])
local tokens = 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do tokens = tokens + tonumber(v) end

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
  -- walk oldest first until the window would fall below the limit
  local ids = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local left, retry = tokens, 1
  for i = 1, #ids, 2 do
    left = left - tonumber(redis.call('HGET', KEYS[3], ids[i]) or '0')
    if left < tpm then retry = math.max(1, tonumber(ids[i + 1]) + window - now) break end
  end
  return {0, rpm, tpm, requests, tokens, reset(KEYS[1]), reset(KEYS[2]), 2, retry}
end

redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], window + 1000) end
return {1, rpm, tpm, requests + 1, tokens + tonumber(ARGV[3]), reset(KEYS[1]), reset(KEYS[2])}
`
