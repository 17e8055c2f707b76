import { pruneTokensLua } from './lua-admit.js'

// Replace a request's token reservation by what it used, counted from now.
// KEYS: 1 tokens zset, 2 tokens hash, 3 tokens running sum.  ARGV: 1 now ms, 2 request id, 3 tokens, 4 window ms
export const settleLua = `${pruneTokensLua}
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[4])
local used = tonumber(ARGV[3])
local before = tonumber(redis.call('HGET', KEYS[2], ARGV[2])) or 0
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], used)
redis.call('INCRBY', KEYS[3], used - before)
prune_tokens(KEYS[1], KEYS[2], KEYS[3], now - window)
local tokens = tonumber(redis.call('GET', KEYS[3]) or '0')
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = 0
if #oldest > 0 then reset = math.max(0, tonumber(oldest[2]) + window - now) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], window + 1000) end
return {tokens, reset}
`
