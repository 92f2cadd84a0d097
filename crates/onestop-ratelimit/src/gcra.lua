-- GCRA (generic cell rate algorithm) for one key, atomically, on the Redis
-- server's clock, so every gateway sharing this Redis counts against the same
-- theoretical arrival time (TAT) whatever its own clock says.
--
-- KEYS[1]  the namespaced key, e.g. `onestop:rl:citizen:110…`
-- ARGV[1]  emission interval in microseconds (1e6 / per_second; may be fractional)
-- ARGV[2]  burst: requests admitted at once (>= 1)
--
-- Returns {1, 0} when the request is admitted (and counted), or
-- {0, retry_after_ms} when it is refused (refusals are not counted).
--
-- The key holds the TAT in microseconds and expires when the TAT is reached:
-- from then on the state equals a fresh one, so nothing idle stays behind.

-- Before Redis 5 a script that calls TIME may only write under effects
-- replication; from Redis 5 on this is the default (and a no-op in 7).
if redis.replicate_commands then
  pcall(redis.replicate_commands)
end

local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end

local new_tat = tat + interval
-- The earliest time this request conforms: `burst` intervals before new_tat.
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {0, math.ceil((allow_at - now) / 1000)}
end

-- At least 1 ms: with a huge rate the interval can vanish below the
-- precision of a double holding microseconds since 1970 (0.25 µs).
local ttl = math.ceil((new_tat - now) / 1000)
if ttl < 1 then
  ttl = 1
end
-- Numbers are formatted here, not by Redis: '%.17g' round-trips a double
-- exactly (tostring keeps only 14 digits), '%d' keeps the TTL an integer.
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', string.format('%d', ttl))
return {1, 0}
