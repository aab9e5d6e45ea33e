/** The posting state machine (PostingOutbox.process) with a scripted transport: every transition of the outbox. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type OutboxRequest, PostingOutbox } from '../../../connectors/sap-posting/outbox.ts';
import type { PostedDocument, Posting, PostResult, Transport } from '../../../connectors/sap-posting/posting.ts';
import { PostingRules } from '../../../connectors/sap-posting/rules.ts';
import type { DeadLetterInput } from '../../../runtime/contracts/spi.ts';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';
import { event, silentLog } from './helpers.ts';

class ScriptedTransport implements Transport {
  readonly name = 'scripted';
  readonly calls: string[] = [];
  results: PostResult[] = [];
  found: PostedDocument | null = null;
  lookupError: Error | undefined;
  stageError: Error | undefined;
  async stage(p: Posting): Promise<void> {
    this.calls.push(`stage ${p.key}`);
    if (this.stageError) throw this.stageError;
  }
  async post(p: Posting): Promise<PostResult> {
    this.calls.push(`post ${p.key}`);
    return this.results.shift() ?? { kind: 'posted', materialDocument: '4900000001', year: '2026' };
  }
  async lookup(p: Posting): Promise<PostedDocument | null> {
    this.calls.push(`lookup ${p.key}`);
    if (this.lookupError) throw this.lookupError;
    return this.found;
  }
  async close(): Promise<void> {}
}

function setup(settleMs = 0) {
  const store = openSqliteStore(mkdtempSync(join(tmpdir(), 'sb-obx-')), 'p');
  const t = new ScriptedTransport();
  const dls: DeadLetterInput[] = [];
  const outbox = new PostingOutbox({ store, scope: 's', transport: t, settleMs, sink: 'sap', log: silentLog, deadLetter: async (e) => void dls.push(e) });
  const e = event(1);
  const p = new PostingRules({}, '.').prepare(e);
  if (p.kind !== 'post') throw new Error('expected a posting');
  const work = { event: e, request: { posting: p.posting } as OutboxRequest };
  const entry = async () => (await store.listOutbox('s', { ids: [e.eventId] }))[0];
  return { store, t, dls, outbox, e, key: p.posting.key, work, entry };
}

describe('posting outbox state machine', () => {
  it('new → (stage, attempt counted) → POSTED; then a duplicate without any call', async () => {
    const { t, outbox, e, key, work, entry } = setup();
    const [open] = await outbox.open([work]);
    expect(open).toMatchObject({ state: 'PENDING', attempts: 0, key });
    expect(await outbox.process(open, e)).toEqual({ kind: 'posted' });
    expect(t.calls).toEqual([`stage ${key}`, `post ${key}`]);
    expect(await entry()).toMatchObject({ state: 'POSTED', attempts: 1, result: { materialDocument: '4900000001', year: '2026' } });
    const [again] = await outbox.open([work]);
    expect(await outbox.process(again, e)).toEqual({ kind: 'duplicate', state: 'POSTED' });
    expect(t.calls).toHaveLength(2);
  });

  it('uncertain → UNCERTAIN; after settleMs the lookup decides: found → POSTED without posting', async () => {
    const { t, outbox, e, work, entry } = setup(150);
    t.results.push({ kind: 'uncertain', error: 'no answer within 30000 ms' });
    const [open] = await outbox.open([work]);
    expect(await outbox.process(open, e)).toEqual({ kind: 'open', error: 'no answer within 30000 ms' });
    const u = await entry();
    expect(u).toMatchObject({ state: 'UNCERTAIN', attempts: 1, error: 'no answer within 30000 ms' });
    t.found = { materialDocument: '4900000077', year: '2026' };
    const t0 = Date.now();
    expect(await outbox.process(u, e)).toEqual({ kind: 'posted', resolved: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(t.calls.filter((c) => c.startsWith('post'))).toHaveLength(1);
    expect(await entry()).toMatchObject({ state: 'POSTED', attempts: 1, result: { materialDocument: '4900000077' } });
  });

  it('uncertain, lookup finds nothing → posted again; a failing lookup leaves the entry as it was', async () => {
    const { t, outbox, e, work, entry } = setup();
    t.results.push({ kind: 'uncertain', error: 'reset' });
    const [open] = await outbox.open([work]);
    await outbox.process(open, e);
    t.lookupError = new Error('HTTP 503');
    expect(await outbox.process(await entry(), e)).toMatchObject({ kind: 'open', error: expect.stringContaining('cannot look up key') });
    expect(await entry()).toMatchObject({ state: 'UNCERTAIN', attempts: 1 });
    t.lookupError = undefined;
    expect(await outbox.process(await entry(), e)).toEqual({ kind: 'posted' });
    expect(await entry()).toMatchObject({ state: 'POSTED', attempts: 2 });
    expect(t.calls.filter((c) => c.startsWith('post'))).toHaveLength(2);
  });

  it('a crash mid-call (PENDING, attempts 1) is looked up before anything is sent', async () => {
    const { t, store, outbox, e, work, entry } = setup();
    await outbox.open([work]);
    await store.updateOutbox('s', [{ id: e.eventId, state: 'PENDING', attempt: true }]);
    t.found = { materialDocument: '4900000005', year: '2026' };
    expect(await outbox.process(await entry(), e)).toEqual({ kind: 'posted', resolved: true });
    expect(t.calls.map((c) => c.split(' ')[0])).toEqual(['lookup']);
  });

  it('rejected → dead letter with the messages, then FAILED; final', async () => {
    const { t, dls, outbox, e, work, entry } = setup();
    t.results.push({ kind: 'rejected', messages: [{ type: 'W', message: 'just a warning' }, { type: 'E', id: 'M7', number: '021', message: 'Deficit of SL Unrestricted-use 2 ST' }] });
    const [open] = await outbox.open([work]);
    expect(await outbox.process(open, e)).toEqual({ kind: 'failed' });
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ stage: 'sink', reason: 'SAP rejected the posting: E M7/021: Deficit of SL Unrestricted-use 2 ST', ref: e.source.recordRef });
    expect(await entry()).toMatchObject({ state: 'FAILED', error: 'E M7/021: Deficit of SL Unrestricted-use 2 ST' });
    expect(await outbox.process(await entry(), e)).toEqual({ kind: 'duplicate', state: 'FAILED' });
    expect(dls).toHaveLength(1);
  });

  it('not sent → PENDING with the attempt taken back (no lookup next time); fatal → stop', async () => {
    const { t, outbox, e, work, entry } = setup();
    t.results.push({ kind: 'not-sent', error: 'ECONNREFUSED' }, { kind: 'not-sent', error: 'HTTP 401', fatal: true });
    const [open] = await outbox.open([work]);
    expect(await outbox.process(open, e)).toEqual({ kind: 'open', error: 'ECONNREFUSED' });
    expect(await entry()).toMatchObject({ state: 'PENDING', attempts: 0, error: 'ECONNREFUSED' });
    expect(await outbox.process(await entry(), e)).toEqual({ kind: 'fatal', error: 'HTTP 401' });
    expect(t.calls.some((c) => c.startsWith('lookup'))).toBe(false);
  });

  it('a staging failure sends nothing and counts nothing; an unpostable event is dead-lettered once', async () => {
    const { t, outbox, e, work, entry, store, dls } = setup();
    t.stageError = new Error('ENOSPC');
    const [open] = await outbox.open([work]);
    expect(await outbox.process(open, e)).toMatchObject({ kind: 'open', error: 'cannot stage the posting: ENOSPC' });
    expect(await entry()).toMatchObject({ state: 'PENDING', attempts: 0 });
    const bad = event(2);
    const [r] = await outbox.open([{ event: bad, request: { reject: 'location X has no plant' } }]);
    expect(await outbox.process(r, bad)).toEqual({ kind: 'failed' });
    expect((await store.listOutbox('s', { ids: [bad.eventId] }))[0]).toMatchObject({ state: 'FAILED', key: '', error: 'location X has no plant' });
    expect(dls.map((d) => d.reason)).toEqual(['location X has no plant']);
  });
});
