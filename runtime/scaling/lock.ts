/**
 * A Redis lock with expiry and fencing, for the things exactly one process of a pool may do (the folder watcher,
 * singleton sources such as scheduled extracts).
 *
 *   <key>        "<owner> <token>"  with PX ttl       who holds it, and with which token
 *   <key>:fence  counter                               INCR on every acquisition: tokens only ever grow
 *
 * - acquire: only when the key is absent (SET … PX after INCR, one script). The holder renews every ttl/3; a holder
 *   that dies stops renewing and the key expires: the next process to try gets it, with a larger token (handover).
 * - fencing: every action taken under the lock is checked against the token *in Redis*, atomically with the action
 *   where the action is a Redis write (`fencedScript` below: the lock value must still be "<owner> <token>" and the
 *   fence counter must still equal the token). A holder that was paused (GC, SIGSTOP, a VM migration) past the expiry
 *   wakes up with a token that is no longer current, and its writes are refused — whatever its local clock believes.
 * - locally, `held` turns false as soon as a renewal fails or the expiry (minus a safety margin) passes without
 *   one, so a holder also stops acting on its own when it cannot reach Redis.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local fence = redis.call('GET', KEYS[2])
  if fence and cur == ARGV[1] .. ' ' .. fence then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(fence)
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[3] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Lua prelude for fenced scripts: KEYS[1] lock, KEYS[2] fence, ARGV[1] "<owner> <token>", ARGV[2] token. */
export const FENCE_CHECK = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return redis.error_reply('FENCED lock lost or superseded')
end
`;

/** Thrown when an action under the lock is refused because the lock was lost or a newer holder exists. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

export function isFenced(err: unknown): boolean {
  return err instanceof FencedError || /FENCED/.test(String((err as Error)?.message));
}

export interface LockOptions {
  /** Expiry of the lock; renewed every ttl/3. */
  ttlMs: number;
  /** Identifies this process in the lock value (default host-pid-random). */
  owner?: string;
}

export function processOwnerId(): string {
  return `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

type LockRedis = Redis & {
  sbLockAcquire(lock: string, fence: string, value: string, ttl: number): Promise<number | null>;
  sbLockRenew(lock: string, fence: string, value: string, ttl: number, token: string): Promise<number>;
  sbLockRelease(lock: string, value: string): Promise<number>;
};

function withLockScripts(r: Redis): LockRedis {
  const x = r as LockRedis & { __sbLock?: boolean };
  if (!x.__sbLock) {
    r.defineCommand('sbLockAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    r.defineCommand('sbLockRenew', { numberOfKeys: 2, lua: RENEW });
    r.defineCommand('sbLockRelease', { numberOfKeys: 1, lua: RELEASE });
    x.__sbLock = true;
  }
  return x;
}

export class FencedLock {
  readonly key: string;
  readonly fenceKey: string;
  readonly owner: string;
  readonly ttlMs: number;
  readonly #r: LockRedis;
  #token: number | undefined;
  /** Local deadline (performance.now()) past which we no longer consider the lock ours without a renewal. */
  #validUntil = 0;

  constructor(redis: Redis, key: string, opts: LockOptions) {
    this.#r = withLockScripts(redis);
    this.key = key;
    this.fenceKey = `${key}:fence`;
    this.owner = opts.owner ?? processOwnerId();
    this.ttlMs = opts.ttlMs;
  }

  /** The fencing token while held. */
  get token(): number | undefined {
    return this.held ? this.#token : undefined;
  }

  /** Held as far as this process can tell (renewed within the expiry, minus a margin for clock drift). */
  get held(): boolean {
    return this.#token !== undefined && performance.now() < this.#validUntil;
  }

  /** The lock value while held: "<owner> <token>". */
  get value(): string {
    return `${this.owner} ${this.#token}`;
  }

  #margin(): number {
    return Math.min(1000, this.ttlMs / 5);
  }

  /** Tries once; returns the token, or undefined when another process holds the lock. */
  async tryAcquire(): Promise<number | undefined> {
    const t0 = performance.now();
    const token = await this.#r.sbLockAcquire(this.key, this.fenceKey, this.owner, this.ttlMs);
    if (token === null || token === undefined) {
      this.#token = undefined;
      return undefined;
    }
    this.#token = Number(token);
    this.#validUntil = t0 + this.ttlMs - this.#margin();
    return this.#token;
  }

  /** Extends the expiry; false (and no longer held) when the lock was lost or superseded. */
  async renew(): Promise<boolean> {
    if (this.#token === undefined) return false;
    const t0 = performance.now();
    try {
      const ok = await this.#r.sbLockRenew(this.key, this.fenceKey, this.value, this.ttlMs, String(this.#token));
      if (ok === 1) {
        this.#validUntil = t0 + this.ttlMs - this.#margin();
        return true;
      }
    } catch {
      // Redis unreachable: we cannot prove we hold it; `held` lapses at the local deadline.
      return this.held;
    }
    this.#token = undefined;
    return false;
  }

  async release(): Promise<void> {
    if (this.#token === undefined) return;
    const value = this.value;
    this.#token = undefined;
    await this.#r.sbLockRelease(this.key, value).catch(() => undefined);
  }

  /** Checks with Redis that the lock is still ours with the current token (one round trip). */
  async verify(): Promise<boolean> {
    if (!this.held) return false;
    const [v, f] = await this.#r.mget(this.key, this.fenceKey);
    if (v === this.value && f === String(this.#token)) return true;
    this.#token = undefined;
    return false;
  }

  /** Throws FencedError unless `verify()` passes. */
  async assertHeld(): Promise<void> {
    if (!(await this.verify())) throw new FencedError(`lock ${this.key} is no longer held by ${this.owner}`);
  }

  /** KEYS and ARGV prefix for a script that starts with FENCE_CHECK. */
  fenceArgs(): { keys: [string, string]; argv: [string, string] } {
    if (this.#token === undefined) throw new FencedError(`lock ${this.key} is not held`);
    return { keys: [this.key, this.fenceKey], argv: [this.value, String(this.#token)] };
  }
}

/**
 * Keeps trying to hold a lock and renews it while held. `onAcquired(token, signal)` runs while the lock is ours;
 * its signal aborts when the lock is lost (renewal refused or lapsed) or on stop. Returns when `stop` aborts.
 */
export async function holdWhilePossible(
  lock: FencedLock,
  stop: AbortSignal,
  onAcquired: (token: number, lost: AbortSignal) => Promise<void>,
  opts: { retryMs?: number; onLost?: (why: string) => void; onError?: (err: Error) => void } = {},
): Promise<void> {
  const retryMs = opts.retryMs ?? Math.max(100, Math.floor(lock.ttlMs / 3));
  while (!stop.aborted) {
    let token: number | undefined;
    try {
      token = await lock.tryAcquire();
    } catch (err) {
      opts.onError?.(err as Error);
    }
    if (token === undefined) {
      await sleep(retryMs, stop);
      continue;
    }
    const lost = new AbortController();
    const onStop = () => lost.abort();
    stop.addEventListener('abort', onStop, { once: true });
    let renewing = false;
    const renewer = setInterval(async () => {
      if (lost.signal.aborted || renewing) return;
      renewing = true;
      const ok = await lock.renew().finally(() => {
        renewing = false;
      });
      if ((!ok || !lock.held) && !lost.signal.aborted) {
        opts.onLost?.('renewal refused or Redis unreachable past the lock expiry');
        lost.abort();
      }
    }, Math.max(50, Math.floor(lock.ttlMs / 3)));
    try {
      await onAcquired(token, lost.signal);
    } catch (err) {
      if (!isFenced(err)) opts.onError?.(err as Error);
    } finally {
      clearInterval(renewer);
      stop.removeEventListener('abort', onStop);
      lost.abort();
      await lock.release();
    }
    if (!stop.aborted) await sleep(retryMs, stop);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
