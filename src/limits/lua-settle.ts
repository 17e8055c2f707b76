// Lua run inside Redis (EVALSHA via ioredis defineCommand).
export const settleLua = `
-- Replace a request's token reservation by what it used, counted from now.
-- KEYS: 1 requests zset, 2 tokens zset, 3 tokens hash.  ARGV: 1 now ms, 2 request id, 3 tokens, 4 window ms
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
local cutoff = now - window
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff)
for i = 1, #expired, 500 do
  redis.call('HDEL', KEYS[3], unpack(expired, i, math.min(i + 499, #expired)))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
local tokens = 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do tokens = tokens + tonumber(v) end
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local reset = 0
if #oldest > 0 then reset = math.max(0, tonumber(oldest[2]) + window - now) end
for i = 2, 3 do redis.call('PEXPIRE', KEYS[i], window + 1000) end
return {tokens, reset}
`
