//! The Lua scripts: each check or update of one key is one script, so it
//! is atomic across replicas and costs one round trip. Time comes from the
//! server (`TIME`), so replicas with skewed clocks still agree.
//!
//! Key layout of a client key (`<h>` = SHA-256 of the key, hex):
//!
//! | key | type | content | expiry |
//! |---|---|---|---|
//! | `cliproxy:ck:<h>:rpm` | string | GCRA theoretical arrival time (µs) | when the burst is full again |
//! | `cliproxy:ck:<h>:tpm` | hash | Unix second → tokens in it | 61 s after the last add |
//! | `cliproxy:ck:<h>:day:<yyyymmdd>` | string | tokens of the day | 3 days |
//! | `cliproxy:ck:<h>:month:<yyyymm>` | string | tokens of the month | 40 days |
//! | `cliproxy:ck:<h>:inflight` | sorted set | lease id, scored by its expiry (ms) | the lease TTL |

use std::sync::LazyLock;

use redis::Script;

/// Every limit of a client key for one more request, in the embedded
/// store's order (monthly, daily, tokens per minute, concurrency, request
/// rate); when all pass, the request is counted and a concurrency lease
/// taken. KEYS: rpm, tpm, day, month, inflight. ARGV: rpm, tpm,
/// max-concurrency, daily, monthly, lease id, lease TTL (ms).
///
/// Returns `{refused limit (0 = allowed), retry µs, requests remaining
/// (-1 = no rate), requests reset µs, minute tokens, minute reset µs, day
/// tokens, month tokens, slot taken}`.
///
/// The rate is GCRA with a burst of the whole minute (as the embedded
/// store's `Quota::per_minute`): each request moves the arrival time by
/// T = 60 s / rpm (integer µs, so the arithmetic is exact); a request is
/// refused while that would put it more than rpm × T ahead of now.
pub static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_us = now_s * 1000000 + tonumber(t[2])
local rpm, tpm, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local daily, monthly = tonumber(ARGV[4]), tonumber(ARGV[5])
local minute, oldest = 0, nil
if tpm > 0 then
  local f = redis.call('HGETALL', KEYS[2])
  for i = 1, #f, 2 do
    local s = tonumber(f[i])
    if s <= now_s - 60 then
      redis.call('HDEL', KEYS[2], f[i])
    else
      minute = minute + tonumber(f[i + 1])
      if oldest == nil or s < oldest then oldest = s end
    end
  end
end
local minute_reset = 0
if oldest then minute_reset = (oldest + 60) * 1000000 - now_us end
local day = tonumber(redis.call('GET', KEYS[3]) or '0')
local month = tonumber(redis.call('GET', KEYS[4]) or '0')
local function refuse(limit, retry)
  return {limit, retry, -1, 0, minute, minute_reset, day, month, 0}
end
if monthly > 0 and month >= monthly then return refuse(5, 0) end
if daily > 0 and day >= daily then return refuse(4, 0) end
if tpm > 0 and minute >= tpm then return refuse(2, minute_reset) end
local now_ms = math.floor(now_us / 1000)
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[5]) >= conc then return refuse(3, 1000000) end
end
local remaining, reset = -1, 0
if rpm > 0 then
  local cell = math.floor(60000000 / rpm)
  if cell < 1 then cell = 1 end
  local horizon = cell * rpm
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now_us then tat = now_us end
  local ahead = tat + cell - now_us
  if ahead > horizon then return refuse(1, ahead - horizon) end
  redis.call('SET', KEYS[1], string.format('%.0f', tat + cell), 'PX', math.floor(ahead / 1000) + 1)
  remaining = math.floor((horizon - ahead) / cell)
  reset = ahead
end
local slot = 0
if conc > 0 then
  local ttl = tonumber(ARGV[7])
  redis.call('ZADD', KEYS[5], now_ms + ttl, ARGV[6])
  redis.call('PEXPIRE', KEYS[5], ttl)
  slot = 1
end
return {0, 0, remaining, reset, minute, minute_reset, day, month, slot}
"#,
    )
});

/// Tokens an answer used. KEYS: tpm, day, month. ARGV: tokens. The
/// per-second hash is pruned here once it holds more than a minute and a
/// bit (the admit script prunes it too, but only for keys with a
/// tokens-per-minute limit), so a busy key's hash stays small.
pub static ADD_TOKENS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = tonumber(ARGV[1])
local t = redis.call('TIME')
redis.call('HINCRBY', KEYS[1], t[1], n)
redis.call('EXPIRE', KEYS[1], 61)
if redis.call('HLEN', KEYS[1]) > 64 then
  local now_s = tonumber(t[1])
  for _, s in ipairs(redis.call('HKEYS', KEYS[1])) do
    if tonumber(s) <= now_s - 60 then redis.call('HDEL', KEYS[1], s) end
  end
end
redis.call('INCRBY', KEYS[2], n)
redis.call('EXPIRE', KEYS[2], 259200)
redis.call('INCRBY', KEYS[3], n)
redis.call('EXPIRE', KEYS[3], 3456000)
return 1
"#,
    )
});

/// What `GET /client-keys/usage` shows, without counting anything.
/// KEYS: rpm, tpm, day, month, inflight. ARGV: rpm. Returns `{requests
/// remaining, requests reset µs, minute tokens, minute reset µs, day
/// tokens, month tokens, in flight}`.
pub static USAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_us = now_s * 1000000 + tonumber(t[2])
local rpm = tonumber(ARGV[1])
local remaining, reset = 0, 0
if rpm > 0 then
  local cell = math.floor(60000000 / rpm)
  if cell < 1 then cell = 1 end
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now_us then tat = now_us end
  reset = tat - now_us
  remaining = rpm - math.ceil(reset / cell)
  if remaining < 0 then remaining = 0 end
end
local minute, oldest = 0, nil
local f = redis.call('HGETALL', KEYS[2])
for i = 1, #f, 2 do
  local s = tonumber(f[i])
  if s > now_s - 60 then
    minute = minute + tonumber(f[i + 1])
    if oldest == nil or s < oldest then oldest = s end
  end
end
local minute_reset = 0
if oldest then minute_reset = (oldest + 60) * 1000000 - now_us end
local day = tonumber(redis.call('GET', KEYS[3]) or '0')
local month = tonumber(redis.call('GET', KEYS[4]) or '0')
local inflight = redis.call('ZCOUNT', KEYS[5], math.floor(now_us / 1000), '+inf')
return {remaining, reset, minute, minute_reset, day, month, inflight}
"#,
    )
});

/// Takes a pending login session for the replica that got its callback,
/// so exactly one replica runs the exchange. KEYS: the session. ARGV: the
/// callback's provider. Returns `{"ok", verifier, challenge, project}` or
/// `{"unknown"}`, `{"not-pending"}`, `{"wrong-provider"}`.
pub static CLAIM_LOGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local s = redis.call('HMGET', KEYS[1], 'provider', 'status', 'verifier', 'challenge', 'project')
if not s[1] then return {'unknown'} end
if s[2] ~= 'pending' then return {'not-pending'} end
if s[1] ~= ARGV[1] then return {'wrong-provider'} end
redis.call('HSET', KEYS[1], 'status', 'claimed')
return {'ok', s[3] or '', s[4] or '', s[5] or ''}
"#,
    )
});
