import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DELIVERY_DEFAULTS } from '../../../runtime/config/pipeline-schema.ts';
import type { Sink, StateStore } from '../../../runtime/contracts/spi.ts';
import { Engine, type EngineParts } from '../../../runtime/engine/engine.ts';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';
import { BufferingSink, CollectingSink, FlakySink, ScriptedSource, records, silentLog, testMapping } from '../../support/fakes.ts';

const stores: StateStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function engine(source: ScriptedSource, sinks: Sink[], delivery: Partial<EngineParts['delivery']> = {}) {
  const state = openSqliteStore(mkdtempSync(join(tmpdir(), 'sb-engine-')), 'test');
  stores.push(state);
  const e = new Engine({
    pipeline: 'test',
    connector: 'scripted',
    source,
    mapping: testMapping(),
    processors: [],
    sinks: sinks.map((sink, i) => ({ name: `s${i}`, sink })),
    state,
    delivery: { ...DELIVERY_DEFAULTS, ...delivery, retry: { ...DELIVERY_DEFAULTS.retry, initialDelayMs: 5, maxDelayMs: 20, ...delivery.retry } },
    log: silentLog,
  });
  return { engine: e, state };
}

describe('engine', () => {
  it('accounts for every record and commits every position in source order', async () => {
    const mk = (i: number) =>
      i % 10 === 3 ? { sku: '', qty: '1' } : i % 10 === 7 ? { sku: `S${i}`, qty: 'bad' } : i % 10 === 9 ? { sku: `S${i}`, qty: 'x2' } : { sku: `S${i}`, qty: '1' };
    const src = new ScriptedSource(Array.from({ length: 20 }, (_, b) => ({ records: records(50, b * 50, mk) })));
    const sink = new CollectingSink();
    const { engine: e, state } = engine(src, [sink]);
    const s = await e.run();
    expect(s.status).toBe('ok');
    expect(s.recordsIn).toBe(1000);
    expect(s.recordsFiltered).toBe(100);
    expect(s.recordsRejected).toBe(100);
    expect(s.recordsMapped).toBe(800);
    expect(s.recordsIn).toBe(s.recordsMapped + s.recordsFiltered + s.recordsRejected);
    expect(s.eventsOut).toBe(700 + 200);
    expect(sink.events).toHaveLength(900);
    expect(src.committed).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const dl = await state.listDeadLetters({ limit: 1000 });
    expect(dl).toHaveLength(100);
    expect(dl[0]).toMatchObject({ stage: 'map', ref: 'r:7', reason: 'qty is not a number: bad' });
  });

  it('commits a position only after a buffering sink published its events', async () => {
    const src = new ScriptedSource(Array.from({ length: 5 }, (_, b) => ({ records: records(10, b * 10) })));
    let end = () => {};
    src.holdOpen = new Promise((r) => (end = r));
    const sink = new BufferingSink();
    const { engine: e } = engine(src, [sink], { maxPendingBatches: 100, flushIdleMs: 60_000 });
    const run = e.run();
    await new Promise((r) => setTimeout(r, 50));
    expect(sink.held).toBe(5);
    expect(src.committed).toEqual([]);
    end();
    const s = await run; // end of input drains: flush, then commit
    expect(sink.published).toHaveLength(50);
    expect(src.committed).toEqual([0, 1, 2, 3, 4]);
    expect(s.eventsOut).toBe(50);
  });

  it('bounds in-flight batches: at the bound it flushes sinks instead of reading on', async () => {
    const src = new ScriptedSource(Array.from({ length: 30 }, (_, b) => ({ records: records(1, b) })));
    const sink = new BufferingSink();
    const { engine: e } = engine(src, [sink], { maxPendingBatches: 4, flushIdleMs: 60_000 });
    const s = await e.run();
    expect(s.status).toBe('ok');
    expect(sink.flushes).toBeGreaterThanOrEqual(7);
    expect(src.committed).toHaveLength(30);
  });

  it('flushes at once after a commit-barrier batch (MQ syncpoint)', async () => {
    const src = new ScriptedSource([{ records: records(3), commitBarrier: true }]);
    let end = () => {};
    src.holdOpen = new Promise((r) => (end = r));
    const sink = new BufferingSink();
    const { engine: e } = engine(src, [sink], { flushIdleMs: 60_000 });
    const run = e.run();
    await new Promise((r) => setTimeout(r, 30));
    expect(sink.flushes).toBe(1);
    expect(src.committed).toEqual([0]);
    end();
    await run;
  });

  it('flushes buffering sinks when the source stays idle', async () => {
    const src = new ScriptedSource([{ records: records(3) }]);
    let end = () => {};
    src.holdOpen = new Promise((r) => (end = r));
    const sink = new BufferingSink();
    const { engine: e } = engine(src, [sink], { flushIdleMs: 40 });
    const run = e.run();
    await new Promise((r) => setTimeout(r, 15));
    expect(src.committed).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(src.committed).toEqual([0]);
    end();
    await run;
  });

  it('retries a sink that is down, stops reading meanwhile, and loses nothing once it is back', async () => {
    const src = new ScriptedSource(Array.from({ length: 50 }, (_, b) => ({ records: records(2, b * 2) })));
    const sink = new FlakySink();
    const { engine: e } = engine(src, [sink], { maxPendingBatches: 3 });
    const run = e.run();
    await new Promise((r) => setTimeout(r, 150));
    expect(src.committed).toEqual([]);
    // Reading stopped at the pending bound (plus the batch being processed).
    expect(src.read).toBeLessThanOrEqual(4);
    expect(sink.attempts).toBeGreaterThan(3);
    sink.down = false;
    const s = await run;
    expect(s.status).toBe('ok');
    expect(new Set(sink.events.map((e) => e.eventId)).size).toBe(100);
    expect(src.committed).toHaveLength(50);
  });

  it('stops on a fatal sink error without committing past the failure', async () => {
    let writes = 0;
    const bad: Sink = {
      async write() {
        if (++writes === 3) throw new Error('message too large');
      },
      async flush() {},
      async close() {},
    };
    const src = new ScriptedSource(Array.from({ length: 10 }, (_, b) => ({ records: records(1, b) })));
    const { engine: e } = engine(src, [bad]);
    const s = await e.run();
    expect(s.status).toBe('failed');
    expect(s.error).toContain('message too large');
    expect(src.committed.every((p) => p < 2)).toBe(true);
    expect(src.rolledBack).toContain(2);
  });

  it('gives up after maxAttempts with a clear error and commits nothing', async () => {
    const src = new ScriptedSource([{ records: records(1) }]);
    const { engine: e } = engine(src, [new FlakySink()], { retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 } });
    const s = await e.run();
    expect(s.status).toBe('failed');
    expect(s.error).toMatch(/still failing after 3 attempts: connection refused/);
    expect(src.committed).toEqual([]);
  });

  it('waits for every sink: a batch commits only when all of them acknowledged', async () => {
    const src = new ScriptedSource([{ records: records(5) }]);
    let end = () => {};
    src.holdOpen = new Promise((r) => (end = r));
    const fast = new CollectingSink();
    const slow = new BufferingSink();
    const { engine: e } = engine(src, [fast, slow], { flushIdleMs: 60_000 });
    const run = e.run();
    await new Promise((r) => setTimeout(r, 30));
    expect(fast.events).toHaveLength(5);
    expect(src.committed).toEqual([]);
    end();
    await run;
    expect(src.committed).toEqual([0]);
  });

  it('decodes raw payloads with the mapping format; broken ones are rejected with their payload kept', async () => {
    const src = new ScriptedSource([
      { records: [{ ref: 'm1', payload: '{"sku":"A","qty":"1"}\n{"sku":"B","qty":"1"}' }, { ref: 'm2', payload: '{oops' }] },
    ]);
    const sink = new CollectingSink();
    const { engine: e, state } = engine(src, [sink]);
    const s = await e.run();
    expect(s.recordsIn).toBe(3);
    expect(sink.events.map((x) => x.source.recordRef)).toEqual(['m1#1', 'm1#2']);
    const [dl] = await state.listDeadLetters();
    expect(dl).toMatchObject({ stage: 'decode', ref: 'm2', payload: '{oops' });
  });

  it('graceful stop drains in-flight batches and commits them', async () => {
    const ctl = new AbortController();
    const src = new ScriptedSource(Array.from({ length: 10_000 }, (_, b) => ({ records: records(1, b) })), ctl.signal);
    const sink = new CollectingSink();
    const { engine: e } = engine(src, [sink]);
    const run = e.run();
    await new Promise((r) => setTimeout(r, 30));
    ctl.abort();
    e.stop();
    const s = await run;
    expect(s.status).toBe('stopped');
    expect(src.read).toBeLessThan(10_000);
    expect(src.committed).toHaveLength(s.batches);
    expect(sink.events).toHaveLength(s.eventsOut);
  });
});
