import { createHash } from 'node:crypto';
import type { FailurePolicy, StateStore, SuccessPolicy, TargetHealth } from '../types.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * Sends one Redis command and resolves with its reply: `(args) => client.sendCommand(args)`
   * for node-redis, `([command, ...rest]) => client.call(command, ...rest)` for ioredis. The
   * package never imports a Redis client. Required.
   */
  sendCommand: (args: string[]) => Promise<unknown>;
  /**
   * Prefix of every key. For Redis Cluster put a hash tag in it (`'{pklb}:'`), so that a
   * request's batched read stays on one slot. Defaults to `'pklb:'`.
   */
  prefix?: string;
}

// Health: a hash per target. f failures, n requests, ws window start, ou open until, pu probe
// until, rl rate-limited (0/1), ca closed at (slow start; 0: none). Times are the caller's epoch
// milliseconds; the TTL is relative.
const fields = "'f', 'n', 'ws', 'ou', 'pu', 'rl', 'ca'";

const snapshotScript = `
local now = tonumber(ARGV[1])
local result = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, ${fields})
  if v[3] then result[i] = v else result[i] = {} end
end
return result`;

/** The target's health hash as Lua locals (the scripts below start with it). */
const readHealth = `local v = redis.call('HMGET', key, ${fields})
local exists = v[3] ~= false
local f, n, ws = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
local ou, pu, rl = tonumber(v[4]) or 0, tonumber(v[5]) or 0, tonumber(v[6]) or 0
local ca = tonumber(v[7]) or 0`;

const failureScript = `
local key = KEYS[1]
local now, threshold, percentage = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local minimum, window, cooldown = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local openFor = tonumber(ARGV[7])
${readHealth}
if ou > now then return {f, n, ws, ou, pu, rl, ca} end
local function open(forMs, limited)
  f, n, ws, ou, pu, rl, ca = 0, 0, now, now + forMs, 0, limited, 0
end
if ou ~= 0 or openFor > 0 then
  if openFor > 0 then open(openFor, 1) else open(cooldown, 0) end
else
  if not exists or now - ws >= window then f, n, ws = 0, 0, now end
  f, n = f + 1, n + 1
  if (threshold > 0 and f >= threshold)
    or (percentage > 0 and n >= minimum and f * 100 >= percentage * n) then
    open(cooldown, 0)
  end
end
redis.call('HSET', key, 'f', f, 'n', n, 'ws', ws, 'ou', ou, 'pu', pu, 'rl', rl, 'ca', ca)
local keep = ws + window
if ou ~= 0 and ou + cooldown > keep then keep = ou + cooldown end
local left = redis.call('PTTL', key)
if ou == 0 and left > 0 and now + left > keep then keep = now + left end
redis.call('PEXPIRE', key, math.max(1, keep - now))
return {f, n, ws, ou, pu, rl, ca}`;

const successScript = `
local key = KEYS[1]
local now, window, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local slow = tonumber(ARGV[4]) or 0
${readHealth}
if ou > now then return {f, n, ws, ou, pu, rl, ca} end
if ou ~= 0 then
  if slow <= 0 then
    redis.call('DEL', key)
    return {}
  end
  redis.call('HSET', key, 'f', 0, 'n', 0, 'ws', now, 'ou', 0, 'pu', 0, 'rl', 0, 'ca', now)
  redis.call('PEXPIRE', key, math.max(1, window, slow))
  return {0, 0, now, 0, 0, 0, now}
end
if count == 0 then
  if exists then return {f, n, ws, ou, pu, rl, ca} end
  return {}
end
if not exists or now - ws >= window then f, n, ws = 0, 0, now end
n = n + 1
redis.call('HSET', key, 'f', f, 'n', n, 'ws', ws, 'ou', 0, 'pu', 0, 'rl', 0)
local keep = ws + window
if ca > 0 and ca + slow > keep then keep = ca + slow end
redis.call('PEXPIRE', key, math.max(1, keep - now))
return {f, n, ws, 0, 0, 0, ca}`;

const probeScript = `
local key = KEYS[1]
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local ou = tonumber(redis.call('HGET', key, 'ou')) or 0
if ou == 0 then return 1 end
if ou > now then return 0 end
local pu = tonumber(redis.call('HGET', key, 'pu')) or 0
if pu > now then return 0 end
redis.call('HSET', key, 'pu', now + ttl)
local left = redis.call('PTTL', key)
if left >= 0 and left < ttl then redis.call('PEXPIRE', key, ttl) end
return 1`;

// HSET keeps the key's TTL; the script form never creates a key without one.
const releaseScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local held = tonumber(ARGV[1]) or 0
if held > 0 and (tonumber(redis.call('HGET', KEYS[1], 'pu')) or 0) ~= held then return 0 end
redis.call('HSET', KEYS[1], 'pu', 0)
return 0`;

const incrementScript = `
local key = KEYS[1]
local by, now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', key, 'v', 'ex')
local value = tonumber(v[1]) or 0
if (tonumber(v[2]) or 0) <= now then value = 0 end
value = value + by
redis.call('HSET', key, 'v', value, 'ex', now + ttl)
redis.call('PEXPIRE', key, math.max(1, ttl))
return tostring(value)`;

const countersScript = `
local now = tonumber(ARGV[1])
local result = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'v', 'ex')
  if v[1] and (tonumber(v[2]) or 0) > now then result[i] = v[1] else result[i] = '0' end
end
return result`;

// A pin: t the target a session moved to, ex when it expires (the caller's clock).
const pinScript = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', key, 't', 'ex')
local held = v[1]
if held and (tonumber(v[2]) or 0) <= now then held = false end
if ARGV[2] ~= 'move' then return held end
local from, to, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
if held and held ~= from then return held end
redis.call('HSET', key, 't', to, 'ex', now + ttl)
redis.call('PEXPIRE', key, math.max(1, ttl))
return to`;

interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const scripts = {
  snapshot: script(snapshotScript),
  failure: script(failureScript),
  success: script(successScript),
  probe: script(probeScript),
  release: script(releaseScript),
  increment: script(incrementScript),
  counters: script(countersScript),
  pin: script(pinScript),
};

/**
 * A {@link StateStore} on Redis (6.2 or later), shared by every replica that uses the same
 * `prefix`. Each operation is one round trip: a Lua script run with `EVALSHA` (sent again with
 * `EVAL` if Redis answers `NOSCRIPT`, after a restart or a `SCRIPT FLUSH`), so each is atomic.
 * Every key gets a TTL; keys are hashes of the middleware's keys (which hold a hash of the API
 * key, never the key), values are counts and times. Nothing is cached locally: every request
 * reads the shared state when it starts.
 *
 * @example
 * import { createClient } from 'redis';
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * app.use(portkeyLoadBalancer({ store: redisStore({ sendCommand: (args) => client.sendCommand(args) }) }));
 */
export function redisStore(options: RedisStoreOptions): StateStore {
  if (typeof options?.sendCommand !== 'function') {
    throw new TypeError(
      'redisStore needs sendCommand, e.g. redisStore({ sendCommand: (args) => client.sendCommand(args) })',
    );
  }
  const { sendCommand } = options;
  const prefix = options.prefix ?? 'pklb:';
  const healthKey = (key: string) => `${prefix}h:${digest(key)}`;
  const counterKey = (key: string) => `${prefix}c:${digest(key)}`;
  const pinKey = (key: string) => `${prefix}p:${digest(key)}`;

  async function run(which: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await sendCommand(['EVALSHA', which.sha, ...tail]);
    } catch (error) {
      if (!String((error as Error | undefined)?.message ?? error).includes('NOSCRIPT')) throw error;
      return sendCommand(['EVAL', which.source, ...tail]);
    }
  }

  return {
    async init() {
      for (const which of Object.values(scripts))
        await sendCommand(['SCRIPT', 'LOAD', which.source]);
    },

    async snapshot(keys, now) {
      if (keys.length === 0) return [];
      const reply = await run(scripts.snapshot, keys.map(healthKey), [now]);
      return (reply as unknown[]).map(healthOf);
    },

    async recordFailure(key, now, policy: FailurePolicy) {
      const reply = await run(
        scripts.failure,
        [healthKey(key)],
        [
          now,
          policy.failureThreshold,
          policy.failureThresholdPercentage,
          policy.minimumRequests,
          policy.windowMs,
          policy.cooldownMs,
          policy.openForMs,
        ],
      );
      return healthOf(reply) as TargetHealth;
    },

    async recordSuccess(key, now, policy: SuccessPolicy) {
      const reply = await run(
        scripts.success,
        [healthKey(key)],
        [now, policy.windowMs, policy.countRequests ? 1 : 0, policy.slowStartMs ?? 0],
      );
      return healthOf(reply);
    },

    async tryProbe(key, now, ttlMs) {
      return Number(await run(scripts.probe, [healthKey(key)], [now, Math.max(1, ttlMs)])) === 1;
    },

    async releaseProbe(key, heldUntil) {
      await run(scripts.release, [healthKey(key)], [heldUntil ?? 0]);
    },

    async increment(key, by, now, ttlMs) {
      return Number(await run(scripts.increment, [counterKey(key)], [by, now, Math.max(1, ttlMs)]));
    },

    async counters(keys, now) {
      if (keys.length === 0) return [];
      const reply = await run(scripts.counters, keys.map(counterKey), [now]);
      return (reply as unknown[]).map(Number);
    },

    async pin(key, now, move) {
      // Target ids are never empty: '' stands for "held nowhere".
      const args =
        move === undefined
          ? [now, 'read']
          : [now, 'move', move.from ?? '', move.to, Math.max(1, move.ttlMs)];
      const reply = await run(scripts.pin, [pinKey(key)], args);
      return typeof reply === 'string' ? reply : undefined;
    },
  };
}

/** Keys stay short and carry nothing of the identity they stand for. */
function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 32);
}

function healthOf(reply: unknown): TargetHealth | undefined {
  if (!Array.isArray(reply) || reply.length < 6 || reply[2] === null) return undefined;
  const [f, n, ws, ou, pu, rl, ca] = reply.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number | undefined,
  ];
  const health: TargetHealth = {
    failures: f,
    requests: n,
    windowStart: ws,
    openUntil: ou,
    probeUntil: pu,
    rateLimited: rl === 1,
  };
  if (ca !== undefined && ca > 0) health.closedAt = ca;
  return health;
}
