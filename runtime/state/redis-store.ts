/**
 * Shared state store on Redis for worker pools (`stockbridge worker --redis URL`): checkpoints, idempotency keys,
 * dead letters and the posting outbox of one pipeline, visible to every worker. It implements the same StateStore
 * contract as the embedded SQLite store (test/unit/state/store-suite.ts runs the same behavioural tests on both).
 *
 * Keys, all under `<prefix>:{<pipeline>}:` (the hash tag keeps one pipeline in one Redis Cluster slot, so the Lua
 * scripts below are legal there too):
 *
 *   cp                 HASH   checkpoint key → JSON value
 *   cp:idx             ZSET   checkpoint keys, score 0, for prefix listing in key order (ZRANGEBYLEX)
 *   idem:<scope>:<key> STRING seen-at (ms, Redis server clock); expires ttl + 1 h after the claim (memory only:
 *                             the window itself is checked against the stored time)
 *   dl                 HASH   dead-letter id → JSON;  dl:seq counter;  dl:all / dl:open ZSET id → id;
 *   dl:replayed        HASH   id → replayed-at
 *   ob:seq             counter; ob:<scope>:e:<id> HASH one outbox entry; ob:<scope>:all ZSET seq → id;
 *   ob:<scope>:st:<S>  ZSET   seq → id per state
 *
 * Every multi-key change is one Lua script (atomic); very large calls (thousands of dead letters or outbox entries at
 * once) are split into chunks, each atomic, and the call resolves once all are stored. Durability is Redis's: a write is acknowledged once Redis has
 * it in memory; with `appendonly yes` + `appendfsync everysec` (the usual production setting) at most ~1 s of
 * acknowledged writes can be lost if the Redis host itself crashes — see docs/scaling.md.
 */
import { Redis, type RedisOptions } from 'ioredis';
import {
  type DeadLetter,
  type DeadLetterInput,
  OUTBOX_STATES,
  type OutboxEntry,
  type OutboxState,
  type OutboxUpdate,
  type StateStore,
} from '../contracts/spi.ts';

export interface RedisStoreOptions {
  /** Key prefix (default `sb`). */
  prefix?: string;
}

/** ioredis options for long-lived workers: commands wait through a Redis outage instead of failing after 20 retries. */
export function redisOptions(extra: RedisOptions = {}): RedisOptions {
  return {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (n) => Math.min(200 * n, 2000),
    ...extra,
  };
}

export function connectRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, redisOptions(extra));
}

/** The key namespace of one pipeline: `<prefix>:{<pipeline>}:`. */
export function pipelineKeyPrefix(pipeline: string, prefix = 'sb'): string {
  return `${prefix}:{${pipeline}}:`;
}

const enc = (s: string) => encodeURIComponent(s);

/** Variadic Redis calls are split so a huge batch neither overflows the JS stack nor builds one giant command. */
const CHUNK = 2000;
function chunks<T>(a: readonly T[], n = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
  return out;
}

const CLAIM_KEYS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local dup = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and (ttl == nil or now - tonumber(v) < ttl) then
    dup[#dup + 1] = i
  elseif ttl == nil then
    redis.call('SET', k, now)
  else
    redis.call('SET', k, now, 'PX', ttl + 3600000)
  end
end
return dup`;

const ADD_DEAD_LETTERS = `
local n = #ARGV
local last = redis.call('INCRBY', KEYS[1], n)
for i = 1, n do
  local id = last - n + i
  redis.call('HSET', KEYS[2], id, ARGV[i])
  redis.call('ZADD', KEYS[3], id, id)
  redis.call('ZADD', KEYS[4], id, id)
end
return last`;

// KEYS: seq, all, st:PENDING, then one entry hash per entry. ARGV: now, then (id, key, request) per entry.
const OPEN_OUTBOX = `
local now = ARGV[1]
local out = {}
for i = 4, #KEYS do
  local j = 2 + (i - 4) * 3
  local k = KEYS[i]
  if redis.call('EXISTS', k) == 0 then
    local seq = redis.call('INCR', KEYS[1])
    redis.call('HSET', k, 'seq', seq, 'id', ARGV[j], 'state', 'PENDING', 'key', ARGV[j + 1], 'request', ARGV[j + 2],
      'attempts', 0, 'createdAt', now, 'updatedAt', now)
    redis.call('ZADD', KEYS[2], seq, ARGV[j])
    redis.call('ZADD', KEYS[3], seq, ARGV[j])
  end
  out[#out + 1] = redis.call('HGETALL', k)
end
return out`;

// KEYS: st:PENDING, st:POSTED, st:FAILED, st:UNCERTAIN, then one entry hash per update.
// ARGV: now, then (id, state, from ('*' = any, else comma list), hasResult, result, error ('' = clear), attempt) per update.
const UPDATE_OUTBOX = `
local now = ARGV[1]
local zs = { PENDING = KEYS[1], POSTED = KEYS[2], FAILED = KEYS[3], UNCERTAIN = KEYS[4] }
local moved = {}
for i = 5, #KEYS do
  local j = 2 + (i - 5) * 7
  local k = KEYS[i]
  local cur = redis.call('HGET', k, 'state')
  if cur then
    local ok = ARGV[j + 2] == '*'
    if not ok then
      for s in string.gmatch(ARGV[j + 2], '[^,]+') do
        if s == cur then ok = true end
      end
    end
    if ok then
      local seq = redis.call('HGET', k, 'seq')
      local state = ARGV[j + 1]
      redis.call('HSET', k, 'state', state, 'updatedAt', now)
      if ARGV[j + 3] == '1' then redis.call('HSET', k, 'result', ARGV[j + 4]) end
      if ARGV[j + 5] == '' then redis.call('HDEL', k, 'error') else redis.call('HSET', k, 'error', ARGV[j + 5]) end
      if ARGV[j + 6] == '1' then redis.call('HINCRBY', k, 'attempts', 1) end
      if cur ~= state then
        redis.call('ZREM', zs[cur], ARGV[j])
        redis.call('ZADD', zs[state], seq, ARGV[j])
      end
      moved[#moved + 1] = ARGV[j]
    end
  end
end
return moved`;

// KEYS: all, st:<S>, then entry hashes. ARGV: before, then ids. Deletes entries still in <S> and older than before.
const PRUNE_OUTBOX = `
local n = 0
for i = 3, #KEYS do
  local id = ARGV[i - 1]
  local u = redis.call('HGET', KEYS[i], 'updatedAt')
  if u and u < ARGV[1] and redis.call('ZSCORE', KEYS[2], id) then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    n = n + 1
  end
end
return n`;

interface Scripts {
  sbClaimKeys(...args: Array<string | number>): Promise<number[]>;
  sbAddDeadLetters(...args: Array<string | number>): Promise<number>;
  sbOpenOutbox(...args: Array<string | number>): Promise<string[][]>;
  sbUpdateOutbox(...args: Array<string | number>): Promise<string[]>;
  sbPruneOutbox(...args: Array<string | number>): Promise<number>;
}

/** Defines the store's Lua scripts on a connection (idempotent; EVALSHA with EVAL fallback, by ioredis). */
function withScripts(r: Redis): Redis & Scripts {
  const x = r as Redis & Scripts & { __sbScripts?: boolean };
  if (!x.__sbScripts) {
    r.defineCommand('sbClaimKeys', { lua: CLAIM_KEYS });
    r.defineCommand('sbAddDeadLetters', { numberOfKeys: 4, lua: ADD_DEAD_LETTERS });
    r.defineCommand('sbOpenOutbox', { lua: OPEN_OUTBOX });
    r.defineCommand('sbUpdateOutbox', { lua: UPDATE_OUTBOX });
    r.defineCommand('sbPruneOutbox', { lua: PRUNE_OUTBOX });
    x.__sbScripts = true;
  }
  return x;
}

/**
 * Opens the store of one pipeline. `redis` is a URL (the store owns the connection and closes it) or an ioredis
 * connection shared with other parts of the worker (left open on close).
 */
export function openRedisStore(redis: string | Redis, pipeline: string, opts: RedisStoreOptions = {}): RedisStateStore {
  const owned = typeof redis === 'string';
  const conn = owned ? connectRedis(redis) : redis;
  return new RedisStateStore(conn, pipeline, { ...opts, owned });
}

interface StoredDeadLetter {
  pipeline: string;
  stage: DeadLetter['stage'];
  reason: string;
  ref: string;
  payload?: string;
  /** 'text' or 'base64' when there is a payload. */
  payloadEncoding?: 'text' | 'base64';
  meta?: Record<string, unknown>;
  error?: DeadLetterInput['error'];
  createdAt: string;
}

export class RedisStateStore implements StateStore {
  readonly pipeline: string;
  readonly redis: Redis;
  readonly #r: Redis & Scripts;
  readonly #k: string;
  readonly #owned: boolean;

  constructor(redis: Redis, pipeline: string, opts: RedisStoreOptions & { owned?: boolean } = {}) {
    this.pipeline = pipeline;
    this.redis = redis;
    this.#r = withScripts(redis);
    this.#k = pipelineKeyPrefix(pipeline, opts.prefix);
    this.#owned = opts.owned ?? false;
  }

  /** The key prefix of this pipeline (`sb:{name}:`). */
  get keyPrefix(): string {
    return this.#k;
  }

  // -- checkpoints ------------------------------------------------------------------------------------------------

  async getCheckpoint<T>(key: string): Promise<T | undefined> {
    const v = await this.#r.hget(`${this.#k}cp`, key);
    return v === null ? undefined : (JSON.parse(v) as T);
  }

  async putCheckpoint(key: string, value: unknown): Promise<void> {
    await this.#r.multi().hset(`${this.#k}cp`, key, JSON.stringify(value)).zadd(`${this.#k}cp:idx`, 0, key).exec().then(check);
  }

  async deleteCheckpoint(key: string): Promise<void> {
    await this.#r.multi().hdel(`${this.#k}cp`, key).zrem(`${this.#k}cp:idx`, key).exec().then(check);
  }

  async listCheckpoints(prefix: string): Promise<Array<{ key: string; value: unknown }>> {
    // 0xFF never occurs in UTF-8, so `[prefix` … `(prefix\xff` is exactly the keys starting with prefix.
    const start = Buffer.concat([Buffer.from('['), Buffer.from(prefix)]);
    const end = Buffer.concat([Buffer.from('('), Buffer.from(prefix), Buffer.from([0xff])]);
    const keys = await this.#r.zrangebylex(`${this.#k}cp:idx`, start as unknown as string, end as unknown as string);
    if (keys.length === 0) return [];
    const values: Array<string | null> = [];
    for (const part of chunks(keys)) values.push(...(await this.#r.hmget(`${this.#k}cp`, ...part)));
    const out: Array<{ key: string; value: unknown }> = [];
    keys.forEach((key, i) => {
      const v = values[i];
      if (v !== null) out.push({ key, value: JSON.parse(v) });
    });
    return out;
  }

  // -- idempotency keys -------------------------------------------------------------------------------------------

  #idemKey(scope: string, key: string): string {
    return `${this.#k}idem:${enc(scope)}:${key}`;
  }

  async claimKeys(scope: string, keys: string[], ttlMs?: number): Promise<Set<string>> {
    const dup = new Set<string>();
    for (const part of chunks(keys)) {
      const dupIdx = await this.#r.sbClaimKeys(part.length, ...part.map((k) => this.#idemKey(scope, k)), ttlMs === undefined ? '' : String(ttlMs));
      for (const i of dupIdx) dup.add(part[i - 1]);
    }
    return dup;
  }

  async releaseKeys(scope: string, keys: string[]): Promise<void> {
    for (const part of chunks(keys)) await this.#r.del(...part.map((k) => this.#idemKey(scope, k)));
  }

  // -- dead letters -----------------------------------------------------------------------------------------------

  async addDeadLetters(entries: DeadLetterInput[]): Promise<void> {
    if (entries.length === 0) return;
    const createdAt = new Date().toISOString();
    const rows = entries.map((e) => {
      const s: StoredDeadLetter = { pipeline: this.pipeline, stage: e.stage, reason: e.reason, ref: e.ref, createdAt };
      if (typeof e.payload === 'string') {
        s.payload = e.payload;
        s.payloadEncoding = 'text';
      } else if (e.payload !== undefined) {
        s.payload = Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength).toString('base64');
        s.payloadEncoding = 'base64';
      }
      if (e.meta) s.meta = e.meta;
      if (e.error) s.error = e.error;
      return JSON.stringify(s);
    });
    for (const part of chunks(rows, 500)) await this.#r.sbAddDeadLetters(`${this.#k}dl:seq`, `${this.#k}dl`, `${this.#k}dl:all`, `${this.#k}dl:open`, ...part);
  }

  async #deadLetters(ids: string[]): Promise<DeadLetter[]> {
    if (ids.length === 0) return [];
    const [rows, replayed] = await Promise.all([this.#r.hmget(`${this.#k}dl`, ...ids), this.#r.hmget(`${this.#k}dl:replayed`, ...ids)]);
    const out: DeadLetter[] = [];
    ids.forEach((id, i) => {
      const raw = rows[i];
      if (raw !== null) out.push(toDeadLetter(Number(id), JSON.parse(raw) as StoredDeadLetter, replayed[i]));
    });
    return out;
  }

  async listDeadLetters(opts: { limit?: number; afterId?: number; includeReplayed?: boolean } = {}): Promise<DeadLetter[]> {
    const set = opts.includeReplayed ? 'dl:all' : 'dl:open';
    const ids = await this.#r.zrangebyscore(`${this.#k}${set}`, `(${opts.afterId ?? 0}`, '+inf', 'LIMIT', 0, opts.limit ?? 100);
    return this.#deadLetters(ids);
  }

  async getDeadLetter(id: number): Promise<DeadLetter | undefined> {
    return (await this.#deadLetters([String(id)]))[0];
  }

  async markReplayed(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    const now = new Date().toISOString();
    for (const part of chunks(ids.map(String))) {
      const m = this.#r.multi();
      m.hset(`${this.#k}dl:replayed`, ...part.flatMap((id) => [id, now]));
      m.zrem(`${this.#k}dl:open`, ...part);
      await m.exec().then(check);
    }
  }

  async countDeadLetters(opts: { includeReplayed?: boolean } = {}): Promise<number> {
    return this.#r.zcard(`${this.#k}${opts.includeReplayed ? 'dl:all' : 'dl:open'}`);
  }

  // -- outbox -----------------------------------------------------------------------------------------------------

  #ob(scope: string): string {
    return `${this.#k}ob:${enc(scope)}:`;
  }

  async openOutbox(scope: string, entries: ReadonlyArray<{ id: string; key: string; request: unknown }>): Promise<OutboxEntry[]> {
    const ob = this.#ob(scope);
    const out: OutboxEntry[] = [];
    for (const part of chunks(entries, 500)) {
      const keys = [`${this.#k}ob:seq`, `${ob}all`, `${ob}st:PENDING`, ...part.map((e) => `${ob}e:${e.id}`)];
      const argv = [new Date().toISOString()];
      for (const e of part) argv.push(e.id, e.key, JSON.stringify(e.request ?? null));
      const rows = await this.#r.sbOpenOutbox(keys.length, ...keys, ...argv);
      out.push(...rows.map(toOutboxEntry));
    }
    return out;
  }

  async updateOutbox(scope: string, updates: readonly OutboxUpdate[]): Promise<string[]> {
    const moved: string[] = [];
    for (const part of chunks(updates, 500)) moved.push(...(await this.#updateOutbox(scope, part)));
    return moved;
  }

  async #updateOutbox(scope: string, updates: readonly OutboxUpdate[]): Promise<string[]> {
    const ob = this.#ob(scope);
    const keys = [...OUTBOX_STATES.map((s) => `${ob}st:${s}`), ...updates.map((u) => `${ob}e:${u.id}`)];
    const argv = [new Date().toISOString()];
    for (const u of updates) {
      argv.push(
        u.id,
        u.state,
        u.from ? u.from.join(',') || '-' : '*',
        u.result === undefined ? '0' : '1',
        u.result === undefined ? '' : JSON.stringify(u.result),
        u.error ?? '',
        u.attempt ? '1' : '0',
      );
    }
    return this.#r.sbUpdateOutbox(keys.length, ...keys, ...argv);
  }

  async #entries(scope: string, ids: readonly string[]): Promise<OutboxEntry[]> {
    if (ids.length === 0) return [];
    const ob = this.#ob(scope);
    const p = this.#r.pipeline();
    for (const id of ids) p.hgetall(`${ob}e:${id}`);
    const res = (await p.exec()) ?? [];
    const out: OutboxEntry[] = [];
    for (const [err, h] of res) {
      if (err) throw err;
      const hash = h as Record<string, string>;
      if (hash && hash.id !== undefined) out.push(hashToOutboxEntry(hash));
    }
    return out;
  }

  async listOutbox(
    scope: string,
    opts: { states?: readonly OutboxState[]; ids?: readonly string[]; afterSeq?: number; limit?: number } = {},
  ): Promise<OutboxEntry[]> {
    const limit = opts.limit ?? 100;
    const after = opts.afterSeq ?? 0;
    const ob = this.#ob(scope);
    if (opts.ids) {
      const found = await this.#entries(scope, opts.ids);
      return found
        .filter((e) => (!opts.states || opts.states.includes(e.state)) && e.seq > after)
        .sort((a, b) => a.seq - b.seq)
        .slice(0, limit);
    }
    const sets = opts.states ? opts.states.map((s) => `${ob}st:${s}`) : [`${ob}all`];
    const seqIds: Array<{ seq: number; id: string }> = [];
    for (const set of sets) {
      const flat = await this.#r.zrangebyscore(set, `(${after}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit);
      for (let i = 0; i < flat.length; i += 2) seqIds.push({ id: flat[i], seq: Number(flat[i + 1]) });
    }
    seqIds.sort((a, b) => a.seq - b.seq);
    return this.#entries(
      scope,
      seqIds.slice(0, limit).map((x) => x.id),
    );
  }

  async countOutbox(scope: string): Promise<Record<OutboxState, number>> {
    const ob = this.#ob(scope);
    const p = this.#r.pipeline();
    for (const s of OUTBOX_STATES) p.zcard(`${ob}st:${s}`);
    const res = (await p.exec()) ?? [];
    return Object.fromEntries(OUTBOX_STATES.map((s, i) => [s, Number(res[i]?.[1] ?? 0)])) as Record<OutboxState, number>;
  }

  async pruneOutbox(scope: string, opts: { before: string; states?: readonly OutboxState[] }): Promise<number> {
    const ob = this.#ob(scope);
    let n = 0;
    for (const s of opts.states ?? (['POSTED', 'FAILED'] as const)) {
      let after = '-inf';
      for (;;) {
        const flat = await this.#r.zrangebyscore(`${ob}st:${s}`, after, '+inf', 'WITHSCORES', 'LIMIT', 0, 500);
        if (flat.length === 0) break;
        const ids: string[] = [];
        for (let i = 0; i < flat.length; i += 2) ids.push(flat[i]);
        after = `(${flat[flat.length - 1]}`;
        const keys = [`${ob}all`, `${ob}st:${s}`, ...ids.map((id) => `${ob}e:${id}`)];
        n += await this.#r.sbPruneOutbox(keys.length, ...keys, opts.before, ...ids);
      }
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.#owned && this.redis.status !== 'end') await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function check(res: Array<[Error | null, unknown]> | null): void {
  if (!res) throw new Error('redis transaction aborted');
  for (const [err] of res) if (err) throw err;
}

function toDeadLetter(id: number, s: StoredDeadLetter, replayedAt: string | null): DeadLetter {
  const payload =
    s.payload === undefined ? undefined : s.payloadEncoding === 'base64' ? Buffer.from(s.payload, 'base64') : s.payload;
  return {
    id,
    pipeline: s.pipeline,
    stage: s.stage,
    reason: s.reason,
    ref: s.ref,
    payload,
    meta: s.meta,
    error: s.error,
    createdAt: s.createdAt,
    replayedAt: replayedAt ?? null,
  };
}

function toOutboxEntry(flat: string[]): OutboxEntry {
  const h: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]] = flat[i + 1];
  return hashToOutboxEntry(h);
}

function hashToOutboxEntry(h: Record<string, string>): OutboxEntry {
  const e: OutboxEntry = {
    seq: Number(h.seq),
    id: h.id,
    state: h.state as OutboxState,
    key: h.key,
    request: h.request === undefined ? null : JSON.parse(h.request),
    attempts: Number(h.attempts ?? 0),
    createdAt: h.createdAt,
    updatedAt: h.updatedAt,
  };
  if (h.result !== undefined) e.result = JSON.parse(h.result);
  if (h.error !== undefined) e.error = h.error;
  return e;
}
