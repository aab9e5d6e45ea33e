import { describe, expect, it } from 'vitest';
import { GeneratorSource, type GeneratorOptions } from '../../../connectors/generator/index.ts';
import { checkEvent, type InventoryEvent } from '../../../runtime/contracts/event.ts';
import type { SourceContext } from '../../../runtime/contracts/spi.ts';
import { silentLog } from '../../support/fakes.ts';

const opts: GeneratorOptions = {
  count: 0, rate: 0, seed: 7, stores: 50, skus: 5000, start: '2026-11-21T23:59:30Z', stepMs: 1237, returnRate: 0.05, shape: 'event', system: 'generator',
};
const ctx = { pipeline: 'p', log: silentLog } as unknown as SourceContext;

describe('generator source', () => {
  it('is deterministic per (seed, k), emits valid events with exact ISO instants and distinct UUIDv8 ids', () => {
    const a = new GeneratorSource(opts, ctx);
    const b = new GeneratorSource(opts, ctx);
    const ids = new Set<string>();
    for (let k = 0; k < 5000; k++) {
      const ea = a.record(k).value as InventoryEvent;
      expect(b.record(k).value).toEqual(ea);
      expect(ea.occurredAt).toBe(new Date(Date.parse(opts.start) + k * opts.stepMs).toISOString());
      expect(checkEvent({ ...ea, source: { ...ea.source, receivedAt: '2026-11-22T00:00:00.000Z' } })).toBeNull();
      expect(ea.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(ea.eventId);
    }
    expect(ids.size).toBe(5000);
    expect(new GeneratorSource({ ...opts, seed: 8 }, ctx).record(0).value).not.toEqual(a.record(0).value);
  });

  it('store-sales shape gives POS rows whose date and time match the instant', () => {
    const g = new GeneratorSource({ ...opts, shape: 'store-sales' }, ctx);
    const v = g.record(100).value as Record<string, string>;
    const iso = new Date(Date.parse(opts.start) + 100 * opts.stepMs).toISOString();
    expect(v.date).toBe(iso.slice(0, 10).replaceAll('-', ''));
    expect(v.time).toBe(iso.slice(11, 19).replaceAll(':', ''));
    expect(v.store).toMatch(/^S0\d\d$/);
  });
});
