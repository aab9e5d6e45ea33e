import { describe, expect, it } from 'vitest';
import { checkEvent, type InventoryEvent } from '../../../runtime/contracts/event.ts';
import { EventIdNamespace } from '../../../runtime/contracts/event-id.ts';
import { MAPPED } from '../../../runtime/contracts/mapping.ts';
import { identityMapping } from '../../../runtime/mapping/identity.ts';
import { CTX } from './helpers.ts';

const event = {
  schemaVersion: 1,
  eventId: 'e-1',
  eventType: 'SALE',
  sku: 'SKU1',
  locationId: 'L1',
  quantity: '-1.000',
  unitOfMeasure: 'EA',
  occurredAt: '2026-01-05T10:00:00.000Z',
  source: { system: 'upstream', connector: 'kafka', recordRef: 'topic/0/1', receivedAt: '2026-01-05T10:00:01.000Z' },
};

function run(value: unknown, ref = 'events.jsonl:1') {
  const m = identityMapping({ namespace: 'p1', pipeline: 'p1' });
  const out: InventoryEvent[] = [];
  const outcome = m.map({ ref, value }, value, out, CTX);
  return { outcome, out };
}

describe('identity mapping', () => {
  it('passes canonical events through, keeping their id and lineage', () => {
    const { outcome, out } = run(event);
    expect(outcome).toBe(MAPPED);
    expect(out[0]).toMatchObject({ ...event, gtin: null, references: null, attributes: null });
    expect(out[0].source).toEqual({ ...event.source, pipeline: 'p1', mapping: 'identity@1' });
    expect(checkEvent(out[0])).toBeNull();
  });

  it('derives a missing eventId from the record ref, and fills missing lineage', () => {
    const { eventId: _, source: __, ...rest } = event;
    const { outcome, out } = run({ ...rest, source: { system: 'gen', receivedAt: '' } }, 'gen:1:7');
    expect(outcome).toBe(MAPPED);
    expect(out[0].eventId).toBe(new EventIdNamespace('p1').id('gen:1:7'));
    expect(out[0].eventId).toBe(run({ ...rest, source: { system: 'gen' } }, 'gen:1:7').out[0].eventId);
    expect(out[0].source).toEqual({
      system: 'gen',
      connector: CTX.connector,
      recordRef: 'gen:1:7',
      receivedAt: CTX.receivedAt,
      pipeline: 'p1',
      mapping: 'identity@1',
    });
  });

  it.each([
    [{ ...event, quantity: '1.5' }, 'quantity must be an exact decimal with 3 fraction digits, got "1.5"', 'quantity'],
    [{ ...event, quantity: -1 }, 'quantity must be an exact decimal with 3 fraction digits, got -1', 'quantity'],
    [{ ...event, eventType: 'SOLD' }, 'eventType must be one of', 'eventType'],
    [{ ...event, occurredAt: '2026-01-05T10:00:00+01:00' }, 'occurredAt must be an ISO-8601 UTC instant', 'occurredAt'],
    [{ ...event, source: { connector: 'x' } }, 'source.system must be a non-empty string', 'source.system'],
    [{ ...event, qty: '1.000' }, "unknown field 'qty' (not part of the canonical event)", 'qty'],
    [{ ...event, schemaVersion: 2 }, 'schemaVersion 2 is not supported (expected 1)', 'schemaVersion'],
    [{ ...event, attributes: { n: 1 } }, 'attributes.n must be a string', 'attributes.n'],
  ])('rejects %j', (value, reason, field) => {
    const { outcome, out } = run(value);
    expect(outcome).toMatchObject({ stage: 'validate', reason: expect.stringContaining(reason), field });
    expect(out).toHaveLength(0);
  });

  it('rejects what is not an object', () => {
    expect(run([event]).outcome).toMatchObject({ reason: 'a canonical event must be a JSON object' });
    expect(run('text').outcome).toMatchObject({ reason: 'a canonical event must be a JSON object' });
  });

  it('reads JSON lines', () => {
    const m = identityMapping();
    expect(m.format.name).toBe('jsonl');
    const recs = m.format.decodeMessage(
      `${JSON.stringify(event)}\n${JSON.stringify({ ...event, eventId: 'e-2' })}\n`,
      'm',
    );
    const out: InventoryEvent[] = [];
    for (const r of recs) m.map({ ref: `m:${r.line}` }, r.value, out, CTX);
    expect(out.map((e) => e.eventId)).toEqual(['e-1', 'e-2']);
  });
});
