/** The outbox of the SQLite state store: entries, compare-and-set transitions, durability across reopen, pruning. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'sb-outbox-'));

describe('state store outbox', () => {
  it('opens PENDING entries once; a second open returns the existing entry untouched', async () => {
    const d = dir();
    const s = openSqliteStore(d, 'p');
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
    expect(again[1]).toMatchObject({ id: 'e3', state: 'PENDING' });
    // scopes are independent
    expect((await s.openOutbox('other', [{ id: 'e1', key: 'X', request: 1 }]))[0].state).toBe('PENDING');
    await s.close();
  });

  it('compare-and-set transitions, attempts, errors; durable across reopen', async () => {
    const d = dir();
    let s = openSqliteStore(d, 'p');
    await s.openOutbox('sap', [
      { id: 'a', key: 'KA', request: {} },
      { id: 'b', key: 'KB', request: {} },
    ]);
    expect(await s.updateOutbox('sap', [{ id: 'a', state: 'UNCERTAIN', from: ['PENDING'], error: 'timeout after 30000 ms', attempt: true }])).toEqual(['a']);
    // a is no longer PENDING: a second CAS from PENDING does not apply
    expect(await s.updateOutbox('sap', [{ id: 'a', state: 'POSTED', from: ['PENDING'] }])).toEqual([]);
    expect(await s.updateOutbox('sap', [{ id: 'missing', state: 'POSTED' }])).toEqual([]);
    expect(
      await s.updateOutbox('sap', [
        { id: 'a', state: 'POSTED', from: ['UNCERTAIN', 'PENDING'], result: { materialDocument: '1' } },
        { id: 'b', state: 'FAILED', result: { messages: [{ type: 'E', message: 'Material X does not exist' }] }, error: 'Material X does not exist' },
      ]),
    ).toEqual(['a', 'b']);
    await s.close();
    s = openSqliteStore(d, 'p');
    const [a, b] = await s.listOutbox('sap');
    expect(a).toMatchObject({ state: 'POSTED', attempts: 1, result: { materialDocument: '1' } });
    expect(a.error).toBeUndefined();
    expect(b).toMatchObject({ state: 'FAILED', error: 'Material X does not exist' });
    expect(await s.countOutbox('sap')).toEqual({ PENDING: 0, POSTED: 1, FAILED: 1, UNCERTAIN: 0 });
    await s.close();
  });

  it('lists by state, by id, with paging; prunes final entries older than a date', async () => {
    const s = openSqliteStore(dir(), 'p');
    await s.openOutbox(
      'sap',
      Array.from({ length: 10 }, (_, i) => ({ id: `e${i}`, key: `K${i}`, request: i })),
    );
    await s.updateOutbox('sap', [0, 2, 4, 6, 8].map((i) => ({ id: `e${i}`, state: 'POSTED' as const })));
    await s.updateOutbox('sap', [{ id: 'e9', state: 'UNCERTAIN' }]);
    expect((await s.listOutbox('sap', { states: ['PENDING', 'UNCERTAIN'] })).map((e) => e.id)).toEqual(['e1', 'e3', 'e5', 'e7', 'e9']);
    const page1 = await s.listOutbox('sap', { limit: 4 });
    const page2 = await s.listOutbox('sap', { limit: 4, afterSeq: page1[3].seq });
    expect([...page1, ...page2].map((e) => e.id)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']);
    expect((await s.listOutbox('sap', { ids: ['e9', 'e4', 'nope'] })).map((e) => e.id)).toEqual(['e4', 'e9']);
    expect(await s.pruneOutbox('sap', { before: '2000-01-01T00:00:00.000Z' })).toBe(0);
    expect(await s.pruneOutbox('sap', { before: new Date(Date.now() + 60_000).toISOString() })).toBe(5);
    expect(await s.countOutbox('sap')).toEqual({ PENDING: 4, POSTED: 0, FAILED: 0, UNCERTAIN: 1 });
    await s.close();
  });
});
