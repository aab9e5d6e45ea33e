/**
 * The pool's fenced lock against a real redis-server: one holder at a time, handover on expiry with a larger token,
 * and a holder that lost the lock (paused past its expiry) refused on every fenced action — the watcher's file
 * registration and a singleton source's checkpoint writes — whatever it believes locally.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { fileDropToolkit } from '../../cli/commands/worker.ts';
import { bindFormat } from '../../runtime/formats/index.ts';
import type { DropOptions } from '../../runtime/scaling/drop-toolkit.ts';
import { filesQueueName, poolKeys } from '../../runtime/scaling/keys.ts';
import { FencedLock, holdWhilePossible, isFenced, sleep } from '../../runtime/scaling/lock.ts';
import { collectStatus } from '../../runtime/scaling/status.ts';
import { FolderWatcher } from '../../runtime/scaling/watcher.ts';
import { fenceCheckpoints } from '../../runtime/scaling/worker.ts';
import { connectRedis, RedisStateStore } from '../../runtime/state/redis-store.ts';
import { redisUrl, uniqueName } from '../harness/services.ts';
import { silentLog } from '../support/fakes.ts';

const conns: Redis[] = [];
function conn(): Redis {
  const r = connectRedis(redisUrl());
  conns.push(r);
  return r;
}
afterAll(async () => {
  for (const c of conns) await c.quit().catch(() => undefined);
});

describe('fenced lock (real redis-server)', () => {
  it('one holder at a time; expiry hands it over with a larger token; the old holder is refused', async () => {
    const key = `sbtest:${uniqueName('lock')}`;
    const a = new FencedLock(conn(), key, { ttlMs: 400, owner: 'a' });
    const b = new FencedLock(conn(), key, { ttlMs: 400, owner: 'b' });
    const t1 = await a.tryAcquire();
    expect(t1).toBe(1);
    expect(await b.tryAcquire()).toBeUndefined();
    expect(await a.tryAcquire()).toBe(1); // re-entrant for the holder: renews, same token
    expect(await a.renew()).toBe(true);
    expect(await a.verify()).toBe(true);
    // a stops renewing (paused, dead): after the expiry b gets it, with a larger token
    await sleep(550);
    const t2 = await b.tryAcquire();
    expect(t2).toBe(2);
    expect(a.held).toBe(false); // its local deadline passed too
    expect(await a.renew()).toBe(false);
    expect(await a.verify()).toBe(false);
    await expect(a.assertHeld()).rejects.toThrow(/no longer held/);
    // a late release by the old holder does not free the new holder's lock
    await a.release();
    expect(await b.verify()).toBe(true);
    await b.release();
    const t3 = await a.tryAcquire();
    expect(t3).toBe(3); // tokens only grow
    await a.release();
  });

  it('even with a local clock that says "still mine", fenced writes of a superseded holder are refused', async () => {
    const r = conn();
    const pipeline = uniqueName('fence');
    const key = poolKeys(pipeline).singletonLock;
    const a = new FencedLock(r, key, { ttlMs: 60_000, owner: 'a' });
    const b = new FencedLock(r, key, { ttlMs: 60_000, owner: 'b' });
    await a.tryAcquire();
    const store = new RedisStateStore(r, pipeline);
    const fencedA = fenceCheckpoints(store, r, a);
    await fencedA.putCheckpoint('offset', 10);
    expect(await store.getCheckpoint('offset')).toBe(10);
    // a is "paused" long enough for its lock to expire (simulated by deleting the key) and b takes over
    await r.del(key);
    await b.tryAcquire();
    expect(a.held).toBe(true); // a's local deadline has not passed: only Redis knows
    const fencedB = fenceCheckpoints(store, r, b);
    await fencedB.putCheckpoint('offset', 20);
    await expect(fencedA.putCheckpoint('offset', 11)).rejects.toThrow(/FENCED/);
    await expect(fencedA.deleteCheckpoint('offset')).rejects.toThrow(/FENCED/);
    expect(await store.getCheckpoint('offset')).toBe(20);
    // reads are not fenced
    expect(await fencedA.getCheckpoint('offset')).toBe(20);
  });

  it('holdWhilePossible: the standby takes over when the holder stops renewing', async () => {
    const key = `sbtest:${uniqueName('hold')}`;
    const a = new FencedLock(conn(), key, { ttlMs: 300, owner: 'a' });
    const b = new FencedLock(conn(), key, { ttlMs: 300, owner: 'b' });
    const stopA = new AbortController();
    const stopB = new AbortController();
    const held: string[] = [];
    let aLost = false;
    const runA = holdWhilePossible(a, stopA.signal, async (token, lost) => {
      held.push(`a:${token}`);
      await new Promise<void>((r) => lost.addEventListener('abort', () => r(), { once: true }));
      aLost = true;
    });
    await sleep(150);
    const runB = holdWhilePossible(b, stopB.signal, async (token, lost) => {
      held.push(`b:${token}`);
      await new Promise<void>((r) => lost.addEventListener('abort', () => r(), { once: true }));
    });
    await sleep(600);
    expect(held).toEqual(['a:1']); // a renews, b waits
    stopA.abort(); // a stops (releases): b takes over within its retry interval
    await runA;
    expect(aLost).toBe(true);
    for (let i = 0; i < 40 && held.length < 2; i++) await sleep(50);
    expect(held).toEqual(['a:1', 'b:2']);
    stopB.abort();
    await runB;
  });

  it('a watcher whose lock was superseded claims nothing more and cannot register files', async () => {
    const r = conn();
    const pipeline = uniqueName('watch');
    const keys = poolKeys(pipeline);
    const dir = mkdtempSync(join(tmpdir(), 'sb-fence-'));
    const drops = join(dir, 'drops');
    mkdirSync(drops);
    for (let i = 0; i < 3; i++) writeFileSync(join(drops, `f${i}.csv`), `sku,qty\nSKU${i},1\n`);
    const options: DropOptions = {
      path: drops, include: ['*.csv'], exclude: [], recursive: false, minAgeMs: 0, stableMs: 0, tempPatterns: ['*.tmp'], mode: 'poll',
      pollIntervalMs: 50, afterSuccess: 'archive', archive: { dated: false, gzip: false }, duplicateWindowHours: 1, followSymlinks: false,
      chunkSize: 65536, onceWaitMs: 0,
    };
    const queue = new Queue(filesQueueName(pipeline), { connection: r });
    const lock = new FencedLock(r, keys.watcherLock, { ttlMs: 60_000, owner: 'stale' });
    await lock.tryAcquire();
    // superseded before it starts: another process now holds the lock with a newer token
    await r.del(keys.watcherLock);
    const other = new FencedLock(r, keys.watcherLock, { ttlMs: 60_000, owner: 'new' });
    await other.tryAcquire();
    const watcher = new FolderWatcher({
      redis: r, queue, lock, keys, options, folders: [drops], toolkit: fileDropToolkit,
      format: bindFormat('csv', { header: true }, dir), log: silentLog, jobOptions: {},
    });
    const lost = new AbortController();
    setTimeout(() => lost.abort(), 2000);
    await watcher.run(lost.signal); // returns: the fenced check refused the first claim
    expect(watcher.enqueued).toBe(0);
    expect(readdirSync(drops).filter((n) => n.endsWith('.csv')).sort()).toEqual(['f0.csv', 'f1.csv', 'f2.csv']);
    expect(await queue.count()).toBe(0);
    expect(await r.hlen(keys.queued)).toBe(0);
    // a file claimed into the queued area by a watcher that died before registering it
    mkdirSync(join(drops, '.queued'));
    writeFileSync(join(drops, '.queued', 'mabc12-0ff-orphan.csv'), 'sku,qty\nSKU9,1\n');
    // the current holder does the work, starting with a reconcile of the queued area
    const fresh = new FolderWatcher({
      redis: r, queue, lock: other, keys, options, folders: [drops], toolkit: fileDropToolkit,
      format: bindFormat('csv', { header: true }, dir), log: silentLog, jobOptions: {},
    });
    const stop = new AbortController();
    const running = fresh.run(stop.signal);
    for (let i = 0; i < 100 && fresh.enqueued < 4; i++) await sleep(50);
    stop.abort();
    await running;
    expect(fresh.enqueued).toBe(4);
    expect(await queue.count()).toBe(4);
    expect(readdirSync(join(drops, '.queued'))).toHaveLength(4);
    const names = (await queue.getWaiting(0, -1)).map((j) => (j.data as { name: string }).name).sort();
    expect(names).toEqual(['f0.csv', 'f1.csv', 'f2.csv', 'orphan.csv']);
    // the same content dropped again is a duplicate: error folder, no job
    writeFileSync(join(drops, 'again.csv'), 'sku,qty\nSKU0,1\n');
    const stop2 = new AbortController();
    const running2 = fresh.run(stop2.signal);
    for (let i = 0; i < 100 && readdirSync(drops).includes('again.csv'); i++) await sleep(50);
    stop2.abort();
    await running2;
    expect(readdirSync(join(drops, '.error')).sort()).toEqual(['again.csv', 'again.csv.error.json']);
    // `stockbridge status` lists files that never became jobs
    const st = await collectStatus(r);
    expect(st.rejectedFiles.filter((x) => x.pipeline === pipeline)).toMatchObject([{ file: 'again.csv', reason: expect.stringMatching(/^duplicate/) }]);
    expect(await queue.count()).toBe(4);
    await queue.obliterate({ force: true });
    await queue.close();
    expect(isFenced(new Error('ERR FENCED lock lost or superseded'))).toBe(true);
  });
});
