/** The Redis state store against a real redis-server: the same behavioural suite as the embedded SQLite store. */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { connectRedis, openRedisStore } from '../../runtime/state/redis-store.ts';
import { redisUrl, uniqueName } from '../harness/services.ts';
import { stateStoreSuite } from '../unit/state/store-suite.ts';

const conns: Redis[] = [];
afterAll(async () => {
  for (const c of conns) await c.quit().catch(() => undefined);
});

// Each backing is a unique key prefix on the harness redis-server; every open() is a new connection (a new process).
stateStoreSuite('Redis', () => {
  const prefix = uniqueName('sbtest');
  return { open: (pipeline: string) => openRedisStore(redisUrl(), pipeline, { prefix }) };
});

describe('Redis state store', () => {
  it('shares one connection when given one, and namespaces keys by prefix and pipeline', async () => {
    const r = connectRedis(redisUrl());
    conns.push(r);
    const prefix = uniqueName('sbtest');
    const s = openRedisStore(r, 'pipe.one', { prefix });
    await s.putCheckpoint('k', { v: 1 });
    await s.claimKeys('file-drop:content', ['abc'], 60_000);
    await s.addDeadLetters([{ stage: 'map', reason: 'r', ref: 'x' }]);
    await s.close(); // the shared connection stays open
    const keys = (await r.keys(`${prefix}:*`)).sort();
    expect(keys.every((k) => k.startsWith(`${prefix}:{pipe.one}:`))).toBe(true);
    expect(keys).toContain(`${prefix}:{pipe.one}:cp`);
    // an expiring idempotency key bounds memory; the window check uses the stored time
    const idem = keys.find((k) => k.includes(':idem:'))!;
    expect(await r.pttl(idem)).toBeGreaterThan(60_000);
  });
});
