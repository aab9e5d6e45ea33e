import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../runtime/contracts/spi.ts';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'sb-state-'));

describe('SQLite state store', () => {
  it('keeps checkpoints across reopen and lists them by prefix', async () => {
    const d = dir();
    const a = openSqliteStore(d, 'p1');
    await a.putCheckpoint('file:/x/a.csv', { offset: 10, line: 2 });
    await a.putCheckpoint('file:/x/b.csv', { offset: 20, line: 3 });
    await a.putCheckpoint('other', 1);
    await a.close();
    const b = openSqliteStore(d, 'p1');
    expect(await b.getCheckpoint('file:/x/a.csv')).toEqual({ offset: 10, line: 2 });
    expect((await b.listCheckpoints('file:')).map((c) => c.key)).toEqual(['file:/x/a.csv', 'file:/x/b.csv']);
    await b.deleteCheckpoint('file:/x/a.csv');
    expect(await b.getCheckpoint('file:/x/a.csv')).toBeUndefined();
    await b.close();
    // pipelines are isolated
    const c = openSqliteStore(d, 'p2');
    expect(await c.getCheckpoint('other')).toBeUndefined();
    await c.close();
  });

  it('claims idempotency keys and reports duplicates within the window', async () => {
    const s = openSqliteStore(dir(), 'p');
    expect([...(await s.claimKeys('hash', ['a', 'b']))]).toEqual([]);
    expect([...(await s.claimKeys('hash', ['b', 'c']))]).toEqual(['b']);
    expect([...(await s.claimKeys('other', ['b']))]).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    expect([...(await s.claimKeys('hash', ['a'], 10))]).toEqual([]); // expired: claimed afresh
    expect([...(await s.claimKeys('hash', ['a'], 10_000))]).toEqual(['a']);
    await s.close();
  });

  it('stores dead letters with text or binary payloads and tracks replay', async () => {
    const s = openSqliteStore(dir(), 'p');
    await s.addDeadLetters([
      { stage: 'decode', reason: 'bad quote', ref: 'a.csv:3', payload: 'x,"y', error: { stage: 'decode', reason: 'bad quote', line: 3, column: 3 } },
      { stage: 'decode', reason: 'bad nibble', ref: 'MQ:abc', payload: new Uint8Array([0x12, 0x3a]), meta: { MsgId: 'abc' } },
    ]);
    const all = await s.listDeadLetters();
    expect(all).toHaveLength(2);
    expect(all[0]).toMatchObject({ pipeline: 'p', payload: 'x,"y', error: { line: 3, column: 3 } });
    expect(Buffer.isBuffer(all[1].payload)).toBe(true);
    expect([...(all[1].payload as Buffer)]).toEqual([0x12, 0x3a]);
    await s.markReplayed([all[0].id]);
    expect(await s.countDeadLetters()).toBe(1);
    expect(await s.countDeadLetters({ includeReplayed: true })).toBe(2);
    expect((await s.listDeadLetters()).map((d) => d.id)).toEqual([all[1].id]);
    expect((await s.getDeadLetter(all[0].id))?.replayedAt).toBeTruthy();
    await s.close();
  });

  it('refuses an unwritable state directory with a ConfigError', () => {
    const d = join(dir(), 'ro');
    mkdirSync(d);
    chmodSync(d, 0o500);
    const asRoot = process.getuid?.() === 0;
    // root ignores permission bits; a path under a regular file fails for everyone
    const target = asRoot ? join('/proc/self/status', 'state') : d;
    expect(() => openSqliteStore(target, 'p')).toThrow(ConfigError);
  });
});
