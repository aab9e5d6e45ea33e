import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, QUANTITY_PRECISION, QUANTITY_SCALE, checkEvent, type InventoryEvent } from '../../runtime/contracts/event.ts';
import { EventIdNamespace } from '../../runtime/contracts/event-id.ts';
import { decodeEvent, encodeEvent } from '../../runtime/contracts/avro.ts';

const avsc = JSON.parse(readFileSync('runtime/contracts/inventory-event.avsc.json', 'utf8'));
const jsonSchema = JSON.parse(readFileSync('runtime/contracts/inventory-event.schema.json', 'utf8'));

const sample: InventoryEvent = {
  schemaVersion: 1,
  eventId: new EventIdNamespace('t').id('a.csv:2', 0),
  eventType: 'TRANSFER_OUT',
  sku: '000000000000012345',
  gtin: '4006381333931',
  locationId: 'DC-01',
  locationType: 'DC',
  quantity: '-12.500',
  unitOfMeasure: 'EA',
  occurredAt: '2026-11-21T09:15:00.123456Z',
  references: { transferId: 'TR-9', counterpartLocationId: 'S042', reasonCode: '301' },
  source: { system: 'sap', connector: 'file-drop', recordRef: 'a.csv:2', receivedAt: '2026-11-21T09:16:00.000Z', pipeline: 'p', mapping: 'm@1' },
  attributes: { price: '9.99' },
};

describe('canonical event contract', () => {
  it('TypeScript, Avro and JSON Schema list the same fields', () => {
    const tsFields = Object.keys(sample).sort();
    const avroFields = avsc.fields.map((f: { name: string }) => f.name).sort();
    const jsonFields = Object.keys(jsonSchema.properties).sort();
    expect(avroFields).toEqual(tsFields);
    expect(jsonFields).toEqual(tsFields);
    const refAvro = avsc.fields.find((f: { name: string }) => f.name === 'references').type[1].fields.map((f: { name: string }) => f.name).sort();
    expect(Object.keys(jsonSchema.properties.references.properties).sort()).toEqual(refAvro);
    const srcAvro = avsc.fields.find((f: { name: string }) => f.name === 'source').type.fields.map((f: { name: string }) => f.name).sort();
    expect(Object.keys(jsonSchema.properties.source.properties).sort()).toEqual(srcAvro);
  });

  it('agree on event types and quantity precision/scale', () => {
    const avroEnum = avsc.fields.find((f: { name: string }) => f.name === 'eventType').type.symbols;
    expect(avroEnum).toEqual([...EVENT_TYPES]);
    expect(jsonSchema.properties.eventType.enum).toEqual([...EVENT_TYPES]);
    const q = avsc.fields.find((f: { name: string }) => f.name === 'quantity').type;
    expect([q.precision, q.scale]).toEqual([QUANTITY_PRECISION, QUANTITY_SCALE]);
  });

  it('a valid event passes checkEvent, the JSON Schema and Avro parsing', () => {
    expect(checkEvent(sample)).toBeNull();
    const validate = new Ajv2020({ strict: false }).compile(jsonSchema);
    expect(validate(sample)).toBe(true);
    expect(() => avro.Type.forSchema(avsc)).not.toThrow();
  });

  it('round-trips through Avro binary with exact decimals and microsecond instants', () => {
    const back = decodeEvent(encodeEvent(sample));
    expect(back.quantity).toBe('-12.500');
    expect(back.occurredAt).toBe('2026-11-21T09:15:00.123456Z');
    expect(back.source.receivedAt).toBe('2026-11-21T09:16:00.000Z');
    expect(back.references?.transferId).toBe('TR-9');
    expect(back.attributes).toEqual({ price: '9.99' });
    for (const q of ['0.000', '1.000', '-1.000', '0.001', '-0.001', '127.999', '-128.000', '999999999999999.999', '-999999999999999.999'])
      expect(decodeEvent(encodeEvent({ ...sample, quantity: q })).quantity).toBe(q);
    const minimal = { ...sample, gtin: undefined, locationType: undefined, references: undefined, attributes: undefined };
    const m = decodeEvent(encodeEvent(minimal));
    expect(m.gtin).toBeNull();
    expect(m.attributes).toEqual({});
  });

  it('checkEvent and the JSON Schema reject the same broken events', () => {
    const validate = new Ajv2020({ strict: false }).compile(jsonSchema);
    const broken: Array<Partial<Record<keyof InventoryEvent, unknown>>> = [
      { quantity: '1.5' },
      { quantity: 1.5 },
      { quantity: '-0.000' },
      { eventType: 'SOLD' },
      { occurredAt: '2026-11-21 09:15:00' },
      { occurredAt: '2026-11-21T09:15:00+01:00' },
      { sku: '' },
      { attributes: { price: 9.99 } },
    ];
    for (const b of broken) {
      const e = { ...sample, ...b };
      expect(checkEvent(e), JSON.stringify(b)).not.toBeNull();
      if (!('quantity' in b && b.quantity === '-0.000')) expect(validate(e), JSON.stringify(b)).toBe(false);
    }
    expect(checkEvent({ ...sample, eventType: 'COUNT', quantity: '-1.000' })).toMatch(/absolute/);
    // calendar checks without Date.parse
    for (const bad of ['2026-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-11-21T24:00:00Z', '2026-11-21T10:60:00Z'])
      expect(checkEvent({ ...sample, occurredAt: bad }), bad).toMatch(/occurredAt/);
    for (const good of ['2024-02-29T00:00:00Z', '2000-02-29T23:59:59.999Z', '2026-12-31T23:59:59.123456Z'])
      expect(checkEvent({ ...sample, occurredAt: good }), good).toBeNull();
    expect(checkEvent({ ...sample, occurredAt: '1900-02-29T00:00:00Z' })).toMatch(/occurredAt/);
  });
});

describe('event ids', () => {
  it('are RFC 9562 UUIDv5, deterministic and distinct per coordinate', () => {
    const ns = new EventIdNamespace('store-sales');
    const a = ns.id('sales.csv:17', 0);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ns.id('sales.csv:17', 0)).toBe(a);
    expect(new EventIdNamespace('store-sales').id('sales.csv:17', 0)).toBe(a);
    expect(ns.id('sales.csv:17', 1)).not.toBe(a);
    expect(ns.id('sales.csv:18', 0)).not.toBe(a);
    expect(new EventIdNamespace('other').id('sales.csv:17', 0)).not.toBe(a);
  });

  it('match the standard UUIDv5 algorithm (same as Python uuid.uuid5)', () => {
    // uuid.uuid5(uuid.NAMESPACE_URL, 'stockbridge:demo') computed independently with node:crypto below
    const v5 = (nsHex: string, name: string) => {
      const h = createHash('sha1').update(Buffer.from(nsHex.replace(/-/g, ''), 'hex')).update(name).digest();
      h[6] = (h[6] & 0x0f) | 0x50;
      h[8] = (h[8] & 0x3f) | 0x80;
      const x = h.toString('hex', 0, 16);
      return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
    };
    const ns = new EventIdNamespace('demo');
    expect(ns.uuid).toBe(v5('6ba7b811-9dad-11d1-80b4-00c04fd430c8', 'stockbridge:demo'));
    expect(ns.id('a', 1)).toBe(v5(ns.uuid, 'a\u001f1'));
    expect(ns.id('é€')).toBe(v5(ns.uuid, 'é€'));
  });
});
