/**
 * Avro codec of the canonical event (avsc), with the logical types the schema uses:
 *  - quantity: `bytes` decimal(18,3) ⇄ the event's decimal string (two's-complement big-endian unscaled value),
 *  - occurredAt / receivedAt: `long` timestamp-micros ⇄ ISO-8601 UTC strings (µs precision preserved).
 */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { QUANTITY_SCALE, type InventoryEvent } from './event.ts';

export const INVENTORY_EVENT_AVSC = JSON.parse(readFileSync(new URL('./inventory-event.avsc.json', import.meta.url), 'utf8'));

/** Decimal string ⇄ unscaled two's-complement big-endian bytes (scale from the schema, 3 here). */
class DecimalType extends avro.types.LogicalType {
  override _fromValue(buf: Buffer): string {
    let n = buf.length ? BigInt.asIntN(buf.length * 8, BigInt(`0x${buf.toString('hex')}`)) : 0n;
    const neg = n < 0n;
    if (neg) n = -n;
    const s = n.toString().padStart(QUANTITY_SCALE + 1, '0');
    return `${neg ? '-' : ''}${s.slice(0, -QUANTITY_SCALE)}.${s.slice(-QUANTITY_SCALE)}`;
  }

  override _toValue(value: string): Buffer {
    const [i, f = ''] = value.split('.');
    let n = BigInt(`${i}${f.padEnd(QUANTITY_SCALE, '0')}`.replace('-', ''));
    if (value.startsWith('-')) n = -n;
    // minimal two's-complement length
    let len = 1;
    while (n >= 1n << BigInt(8 * len - 1) || n < -(1n << BigInt(8 * len - 1))) len++;
    const u = BigInt.asUintN(len * 8, n);
    return Buffer.from(u.toString(16).padStart(len * 2, '0'), 'hex');
  }

  override _resolve(type: avro.Type): ((v: unknown) => unknown) | undefined {
    if (avro.Type.isType(type, 'logical:decimal')) return (v) => v;
    return undefined;
  }
}

/** ISO-8601 UTC ⇄ microseconds since the epoch. */
class TimestampMicrosType extends avro.types.LogicalType {
  override _fromValue(micros: number): string {
    const ms = Math.floor(micros / 1000);
    const us = micros - ms * 1000;
    const iso = new Date(ms).toISOString();
    return us === 0 ? iso : `${iso.slice(0, -1)}${String(us).padStart(3, '0')}Z`;
  }

  override _toValue(iso: string): number {
    const ms = Date.parse(iso);
    const frac = /\.(\d+)Z$/.exec(iso)?.[1] ?? '';
    const extra = frac.length > 3 ? Number(frac.slice(3, 6).padEnd(3, '0')) : 0;
    return ms * 1000 + extra;
  }

  override _resolve(type: avro.Type): ((v: unknown) => unknown) | undefined {
    if (avro.Type.isType(type, 'long', 'logical:timestamp-micros')) return (v) => v;
    return undefined;
  }
}

export const inventoryEventType: avro.Type = avro.Type.forSchema(INVENTORY_EVENT_AVSC, {
  logicalTypes: { decimal: DecimalType, 'timestamp-micros': TimestampMicrosType },
});

/** Fills the absent optional fields with null/{} so the event matches the Avro record exactly. */
function complete(e: InventoryEvent): InventoryEvent {
  return {
    ...e,
    gtin: e.gtin ?? null,
    locationType: e.locationType ?? null,
    references: e.references
      ? {
          documentId: e.references.documentId ?? null,
          documentLine: e.references.documentLine ?? null,
          orderId: e.references.orderId ?? null,
          transferId: e.references.transferId ?? null,
          counterpartLocationId: e.references.counterpartLocationId ?? null,
          reasonCode: e.references.reasonCode ?? null,
        }
      : null,
    source: { ...e.source, pipeline: e.source.pipeline ?? null, mapping: e.source.mapping ?? null },
    attributes: e.attributes ?? {},
  };
}

export function encodeEvent(e: InventoryEvent): Buffer {
  return inventoryEventType.toBuffer(complete(e));
}

export function decodeEvent(buf: Buffer): InventoryEvent {
  return inventoryEventType.fromBuffer(buf) as InventoryEvent;
}
