/**
 * Behavioural tests every StateStore must pass: the embedded SQLite store (test/unit/state/sqlite-store.test.ts)
 * and the Redis store for worker pools (test/integration/scaling-redis-store.test.ts) run this same suite.
 *
 * A backend gives `fresh()`: a new, empty backing (a temporary directory, a unique Redis key prefix) whose `open()`
 * returns a new store instance on it — so "reopen" and "two processes on the same state" are tested too.
 */
import { describe, expect, it } from 'vitest';
import type { StateStore } from '../../../runtime/contracts/spi.ts';

export interface StoreBacking {
  open(pipeline: string): StateStore | Promise<StateStore>;
}

export function stateStoreSuite(name: string, fresh: () => StoreBacking | Promise<StoreBacking>): void {
  describe(`${name}: state store contract`, () => {
    it('keeps checkpoints across reopen, lists them by prefix in key order, isolates pipelines', async () => {
      const b = await fresh();
      const a = await b.open('p1');
      await a.putCheckpoint('file:/x/b.csv', { offset: 20, line: 3 });
      await a.putCheckpoint('file:/x/a.csv', { offset: 10, line: 2 });
      await a.putCheckpoint('file:/x/ü.csv', { offset: 1 });
      await a.putCheckpoint('files', 0);
      await a.putCheckpoint('other', 1);
      await a.putCheckpoint('file:/x/a.csv', { offset: 11, line: 3 }); // overwrite
      await a.close();
      const s = await b.open('p1');
      expect(await s.getCheckpoint('file:/x/a.csv')).toEqual({ offset: 11, line: 3 });
      expect((await s.listCheckpoints('file:')).map((c) => c.key)).toEqual(['file:/x/a.csv', 'file:/x/b.csv', 'file:/x/ü.csv']);
      expect((await s.listCheckpoints('file')).map((c) => c.key)).toEqual(['file:/x/a.csv', 'file:/x/b.csv', 'file:/x/ü.csv', 'files']);
      expect(await s.listCheckpoints('nothing')).toEqual([]);
      expect((await s.listCheckpoints(''))).toHaveLength(5);
      await s.deleteCheckpoint('file:/x/a.csv');
      await s.deleteCheckpoint('never-there');
      expect(await s.getCheckpoint('file:/x/a.csv')).toBeUndefined();
      expect((await s.listCheckpoints('file:')).map((c) => c.key)).toEqual(['file:/x/b.csv', 'file:/x/ü.csv']);
      await s.close();
      const other = await b.open('p2');
      expect(await other.getCheckpoint('other')).toBeUndefined();
      expect(await other.listCheckpoints('')).toEqual([]);
      await other.close();
    });

    it('claims idempotency keys and reports duplicates within the window', async () => {
      const s = await (await fresh()).open('p');
      expect([...(await s.claimKeys('hash', ['a', 'b']))]).toEqual([]);
      expect([...(await s.claimKeys('hash', ['b', 'c']))]).toEqual(['b']);
      expect([...(await s.claimKeys('other', ['b']))]).toEqual([]);
      expect([...(await s.claimKeys('x', ['k', 'k']))]).toEqual(['k']); // the same key twice in one call
      expect([...(await s.claimKeys('hash', []))]).toEqual([]);
      await new Promise((r) => setTimeout(r, 30));
      expect([...(await s.claimKeys('hash', ['a'], 10))]).toEqual([]); // expired: claimed afresh
      expect([...(await s.claimKeys('hash', ['a'], 60_000))]).toEqual(['a']);
      await s.releaseKeys('hash', ['a', 'zz']);
      expect([...(await s.claimKeys('hash', ['a', 'c']))]).toEqual(['c']);
      await s.close();
    });

    it('two store instances on the same state claim each key exactly once (concurrent claims)', async () => {
      const b = await fresh();
      const s1 = await b.open('p');
      const s2 = await b.open('p');
      const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
      const results = await Promise.all(
        keys.flatMap((k) => [s1.claimKeys('c', [k], 60_000), s2.claimKeys('c', [k], 60_000)]),
      );
      // for every key exactly one of the two claims saw it as a duplicate
      for (let i = 0; i < keys.length; i++) expect(results[2 * i].size + results[2 * i + 1].size).toBe(1);
      await s1.close();
      await s2.close();
    });

    it('stores dead letters with text or binary payloads, pages them, tracks replay', async () => {
      const b = await fresh();
      const s = await b.open('p');
      await s.addDeadLetters([]);
      await s.addDeadLetters([
        { stage: 'decode', reason: 'bad quote', ref: 'a.csv:3', payload: 'x,"y', error: { stage: 'decode', reason: 'bad quote', line: 3, column: 3 } },
        { stage: 'decode', reason: 'bad nibble', ref: 'MQ:abc', payload: new Uint8Array([0x12, 0x3a, 0x00, 0xff]), meta: { MsgId: 'abc' } },
        { stage: 'map', reason: 'unknown store', ref: 'a.csv:9' },
      ]);
      const all = await s.listDeadLetters();
      expect(all).toHaveLength(3);
      expect(all[0]).toMatchObject({ pipeline: 'p', stage: 'decode', ref: 'a.csv:3', payload: 'x,"y', error: { line: 3, column: 3 }, replayedAt: null });
      expect(typeof all[0].createdAt).toBe('string');
      expect(all[0].meta).toBeUndefined();
      expect(Buffer.isBuffer(all[1].payload)).toBe(true);
      expect([...(all[1].payload as Buffer)]).toEqual([0x12, 0x3a, 0x00, 0xff]);
      expect(all[1].meta).toEqual({ MsgId: 'abc' });
      expect(all[2].payload).toBeUndefined();
      expect(all[0].id < all[1].id && all[1].id < all[2].id).toBe(true);
      // paging
      expect((await s.listDeadLetters({ limit: 1 })).map((d) => d.id)).toEqual([all[0].id]);
      expect((await s.listDeadLetters({ afterId: all[0].id, limit: 5 })).map((d) => d.id)).toEqual([all[1].id, all[2].id]);
      await s.markReplayed([all[0].id]);
      expect(await s.countDeadLetters()).toBe(2);
      expect(await s.countDeadLetters({ includeReplayed: true })).toBe(3);
      expect((await s.listDeadLetters()).map((d) => d.id)).toEqual([all[1].id, all[2].id]);
      expect((await s.listDeadLetters({ includeReplayed: true })).map((d) => d.id)).toEqual(all.map((d) => d.id));
      expect((await s.getDeadLetter(all[0].id))?.replayedAt).toBeTruthy();
      expect(await s.getDeadLetter(999_999)).toBeUndefined();
      await s.close();
      // durable, and ids keep growing after reopen
      const again = await b.open('p');
      expect(await again.countDeadLetters({ includeReplayed: true })).toBe(3);
      await again.addDeadLetters([{ stage: 'validate', reason: 'r', ref: 'x' }]);
      const last = (await again.listDeadLetters({ afterId: all[2].id }))[0];
      expect(last.id).toBeGreaterThan(all[2].id);
      await again.close();
    });

    it('outbox: opens PENDING entries once; a second open returns the existing entry untouched', async () => {
      const s = await (await fresh()).open('p');
      const first = await s.openOutbox('sap', [
        { id: 'e1', key: 'K1', request: { a: 1 } },
        { id: 'e2', key: 'K2', request: { a: 2 } },
      ]);
      expect(first.map((e) => [e.id, e.state, e.key, e.request, e.attempts])).toEqual([
        ['e1', 'PENDING', 'K1', { a: 1 }, 0],
        ['e2', 'PENDING', 'K2', { a: 2 }, 0],
      ]);
      await s.updateOutbox('sap', [{ id: 'e1', state: 'POSTED', result: { materialDocument: '4900000001', year: '2026' }, attempt: true }]);
      const again = await s.openOutbox('sap', [
        { id: 'e1', key: 'OTHER', request: { a: 9 } },
        { id: 'e3', key: 'K3', request: null },
      ]);
      expect(again[0]).toMatchObject({ id: 'e1', state: 'POSTED', key: 'K1', request: { a: 1 }, result: { materialDocument: '4900000001', year: '2026' }, attempts: 1 });
      expect(again[1]).toMatchObject({ id: 'e3', state: 'PENDING', request: null });
      expect((await s.openOutbox('other', [{ id: 'e1', key: 'X', request: 1 }]))[0].state).toBe('PENDING');
      await s.close();
    });

    it('outbox: compare-and-set transitions, attempts, errors; durable across reopen', async () => {
      const b = await fresh();
      let s = await b.open('p');
      await s.openOutbox('sap', [
        { id: 'a', key: 'KA', request: {} },
        { id: 'b', key: 'KB', request: {} },
      ]);
      expect(await s.updateOutbox('sap', [{ id: 'a', state: 'UNCERTAIN', from: ['PENDING'], error: 'timeout after 30000 ms', attempt: true }])).toEqual(['a']);
      expect(await s.updateOutbox('sap', [{ id: 'a', state: 'POSTED', from: ['PENDING'] }])).toEqual([]);
      expect(await s.updateOutbox('sap', [{ id: 'missing', state: 'POSTED' }])).toEqual([]);
      expect(
        await s.updateOutbox('sap', [
          { id: 'a', state: 'POSTED', from: ['UNCERTAIN', 'PENDING'], result: { materialDocument: '1' } },
          { id: 'b', state: 'FAILED', result: { messages: [{ type: 'E', message: 'Material X does not exist' }] }, error: 'Material X does not exist' },
        ]),
      ).toEqual(['a', 'b']);
      await s.close();
      s = await b.open('p');
      const [a, bb] = await s.listOutbox('sap');
      expect(a).toMatchObject({ state: 'POSTED', attempts: 1, result: { materialDocument: '1' } });
      expect(a.error).toBeUndefined();
      expect(bb).toMatchObject({ state: 'FAILED', error: 'Material X does not exist' });
      expect(await s.countOutbox('sap')).toEqual({ PENDING: 0, POSTED: 1, FAILED: 1, UNCERTAIN: 0 });
      expect(await s.countOutbox('nothing')).toEqual({ PENDING: 0, POSTED: 0, FAILED: 0, UNCERTAIN: 0 });
      await s.close();
    });

    it('outbox: lists by state, by id, with paging; prunes final entries older than a date', async () => {
      const s = await (await fresh()).open('p');
      await s.openOutbox(
        'sap',
        Array.from({ length: 10 }, (_, i) => ({ id: `e${i}`, key: `K${i}`, request: i })),
      );
      await s.updateOutbox('sap', [0, 2, 4, 6, 8].map((i) => ({ id: `e${i}`, state: 'POSTED' as const })));
      await s.updateOutbox('sap', [{ id: 'e9', state: 'UNCERTAIN' }]);
      expect((await s.listOutbox('sap', { states: ['PENDING', 'UNCERTAIN'] })).map((e) => e.id)).toEqual(['e1', 'e3', 'e5', 'e7', 'e9']);
      expect((await s.listOutbox('sap', { states: ['PENDING', 'UNCERTAIN'], limit: 2 })).map((e) => e.id)).toEqual(['e1', 'e3']);
      const page1 = await s.listOutbox('sap', { limit: 4 });
      const page2 = await s.listOutbox('sap', { limit: 4, afterSeq: page1[3].seq });
      expect([...page1, ...page2].map((e) => e.id)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']);
      expect((await s.listOutbox('sap', { ids: ['e9', 'e4', 'nope'] })).map((e) => e.id)).toEqual(['e4', 'e9']);
      expect(await s.pruneOutbox('sap', { before: '2000-01-01T00:00:00.000Z' })).toBe(0);
      expect(await s.pruneOutbox('sap', { before: new Date(Date.now() + 60_000).toISOString() })).toBe(5);
      expect(await s.countOutbox('sap')).toEqual({ PENDING: 4, POSTED: 0, FAILED: 0, UNCERTAIN: 1 });
      expect((await s.listOutbox('sap')).map((e) => e.id)).toEqual(['e1', 'e3', 'e5', 'e7', 'e9']);
      await s.close();
    });
  });
}
