/**
 * The canonical InventoryEvent as a Parquet table: column list and types, value parsing (exact decimals and
 * UTC instants), partition values, and the shredder that turns events into column chunks.
 */
import { QUANTITY_PRECISION, QUANTITY_SCALE, type InventoryEvent } from '../../runtime/contracts/event.ts';
import { IntColumn, MapColumn, StringColumn } from './format/columns.ts';
import type { ColumnChunkData, RowGroupData } from './format/encoder.ts';
import type { Field, Logical } from './format/schema.ts';

export const PARTITION_COLUMNS = ['event_date', 'event_type', 'location_id', 'location_type', 'source_system'] as const;
export type PartitionColumn = (typeof PARTITION_COLUMNS)[number];

const STRING: Logical = { type: 'STRING' };
const TS: Logical = { type: 'TIMESTAMP', unit: 'MICROS', utc: true };
const DECIMAL: Logical = { type: 'DECIMAL', precision: QUANTITY_PRECISION, scale: QUANTITY_SCALE };

const s = (name: string, optional = false): Field => ({ kind: 'column', name, physical: 'BYTE_ARRAY', logical: STRING, optional });

/** Every column in file order (partition columns are left out of the files, as Hive layouts do). */
export const EVENT_FIELDS: readonly Field[] = [
  s('event_id'),
  s('event_type'),
  s('sku'),
  s('gtin', true),
  s('location_id'),
  s('location_type', true),
  { kind: 'column', name: 'quantity', physical: 'INT64', logical: DECIMAL, optional: false },
  s('unit_of_measure'),
  { kind: 'column', name: 'occurred_at', physical: 'INT64', logical: TS, optional: false },
  { kind: 'column', name: 'event_date', physical: 'INT32', logical: { type: 'DATE' }, optional: false },
  s('document_id', true),
  s('document_line', true),
  s('order_id', true),
  s('transfer_id', true),
  s('counterpart_location_id', true),
  s('reason_code', true),
  s('source_system'),
  s('source_connector'),
  s('source_record_ref'),
  { kind: 'column', name: 'source_received_at', physical: 'INT64', logical: TS, optional: true },
  s('source_pipeline', true),
  s('source_mapping', true),
  { kind: 'map', name: 'attributes', optional: true },
  { kind: 'column', name: 'schema_version', physical: 'INT32', logical: { type: 'INT', bits: 32, signed: true }, optional: false },
];

/** Attributes as a JSON text column instead of a MAP (for engines without map support). */
export const ATTRIBUTES_JSON: Field = { kind: 'column', name: 'attributes', physical: 'BYTE_ARRAY', logical: STRING, optional: true };

export type AttributesAs = 'map' | 'json';

export function eventFields(partitionBy: readonly string[], attributes: AttributesAs): Field[] {
  const skip = new Set(partitionBy);
  return EVENT_FIELDS.filter((f) => !skip.has(f.name)).map((f) => (f.name === 'attributes' && attributes === 'json' ? ATTRIBUTES_JSON : f));
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

const DAY_MS = 86_400_000;

function digits(str: string, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = str.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

export interface Instant {
  /** Microseconds since the epoch (exact when |us| < 2^53, i.e. years 1685..2255). */
  us: number;
  /** Days since the epoch (UTC date). */
  day: number;
}

/**
 * Parses the canonical instant `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z` into microseconds and a UTC day.
 * Returns undefined for anything else.
 */
export function parseInstant(v: unknown, out: Instant): boolean {
  if (typeof v !== 'string') return false;
  const len = v.length;
  if (len !== 20 && len !== 24 && len !== 27) return false;
  if (v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58 || v.charCodeAt(len - 1) !== 90)
    return false;
  const y = digits(v, 0, 4);
  const mo = digits(v, 5, 2);
  const d = digits(v, 8, 2);
  const h = digits(v, 11, 2);
  const mi = digits(v, 14, 2);
  const sec = digits(v, 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return false;
  let frac = 0;
  if (len > 20) {
    if (v.charCodeAt(19) !== 46) return false;
    frac = digits(v, 20, len - 21);
    if (frac < 0) return false;
    if (len === 24) frac *= 1000;
  }
  const day = daysFromCivil(y, mo, d);
  out.day = day;
  out.us = (day * DAY_MS + ((h * 60 + mi) * 60 + sec) * 1000) * 1000 + frac;
  return true;
}

/** Same instant as an exact BigInt (for instants outside ±2^53 µs). */
export function instantBig(day: number, v: string): bigint {
  const h = digits(v, 11, 2);
  const mi = digits(v, 14, 2);
  const sec = digits(v, 17, 2);
  let frac = v.length > 20 ? digits(v, 20, v.length - 21) : 0;
  if (v.length === 24) frac *= 1000;
  return BigInt(day) * 86_400_000_000n + BigInt(((h * 60 + mi) * 60 + sec) * 1_000_000 + frac);
}

/**
 * Parses a canonical quantity (`-12.500`: optional minus, 1..15 integer digits, exactly 3 fraction digits) into
 * its unscaled integer (thousandths). Returns a number when exact (|v| < 2^53), a bigint beyond, undefined if bad.
 */
export function parseQuantity(v: unknown): number | bigint | undefined {
  if (typeof v !== 'string') return undefined;
  const len = v.length;
  const neg = v.charCodeAt(0) === 45 ? 1 : 0;
  const intDigits = len - 4 - neg;
  if (intDigits < 1 || intDigits > QUANTITY_PRECISION - QUANTITY_SCALE || v.charCodeAt(len - 4) !== 46) return undefined;
  if (intDigits > 1 && v.charCodeAt(neg) === 48) return undefined; // no leading zeros
  const ip = digits(v, neg, intDigits);
  const fp = digits(v, len - 3, 3);
  if (ip < 0 || fp < 0) return undefined;
  if (intDigits <= 12) {
    const u = ip * 1000 + fp;
    if (u === 0 && neg) return undefined; // -0.000 is not canonical
    return neg ? -u : u;
  }
  const u = BigInt(v.slice(neg, neg + intDigits)) * 1000n + BigInt(fp);
  const r = neg ? -u : u;
  return Number.isSafeInteger(Number(r)) ? Number(r) : r;
}

const dateCache = new Map<number, string>();
/** `YYYY-MM-DD` of a UTC day number. */
export function dayString(day: number): string {
  let s = dateCache.get(day);
  if (s === undefined) {
    s = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (dateCache.size > 100_000) dateCache.clear();
    dateCache.set(day, s);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Shredding

/**
 * Accumulates events of one row group as columns. Skips partition columns. `add` expects the already parsed
 * instant and quantity (the sink parses once, to route and to reject bad events).
 */
export class EventShredder {
  readonly #skip: Set<string>;
  readonly #jsonAttributes: boolean;
  rows = 0;
  readonly #c: {
    eventId: StringColumn;
    eventType: StringColumn;
    sku: StringColumn;
    gtin: StringColumn;
    locationId: StringColumn;
    locationType: StringColumn;
    quantity: IntColumn;
    uom: StringColumn;
    occurredAt: IntColumn;
    eventDate: IntColumn;
    documentId: StringColumn;
    documentLine: StringColumn;
    orderId: StringColumn;
    transferId: StringColumn;
    counterpart: StringColumn;
    reasonCode: StringColumn;
    system: StringColumn;
    connector: StringColumn;
    recordRef: StringColumn;
    receivedAt: IntColumn;
    pipeline: StringColumn;
    mapping: StringColumn;
    attributes: MapColumn | StringColumn;
    schemaVersion: IntColumn;
  };
  readonly #order: Array<[string, StringColumn | IntColumn | MapColumn]>;
  readonly #has: { eventType: boolean; locationId: boolean; locationType: boolean; eventDate: boolean; system: boolean };
  /** source.receivedAt is usually one string object per batch: parse it once. */
  #receivedStr: unknown;
  #receivedUs: number | undefined;
  readonly #scratch: Instant = { us: 0, day: 0 };

  constructor(partitionBy: readonly string[], attributes: AttributesAs) {
    this.#skip = new Set(partitionBy);
    this.#jsonAttributes = attributes === 'json';
    this.#c = {
      eventId: new StringColumn(false, 'never'),
      eventType: new StringColumn(false, 'always'),
      sku: new StringColumn(false),
      gtin: new StringColumn(true),
      locationId: new StringColumn(false),
      locationType: new StringColumn(true),
      quantity: new IntColumn(false),
      uom: new StringColumn(false),
      occurredAt: new IntColumn(false),
      eventDate: new IntColumn(false),
      documentId: new StringColumn(true),
      documentLine: new StringColumn(true),
      orderId: new StringColumn(true),
      transferId: new StringColumn(true),
      counterpart: new StringColumn(true),
      reasonCode: new StringColumn(true),
      system: new StringColumn(false),
      connector: new StringColumn(false),
      recordRef: new StringColumn(false, 'never'),
      receivedAt: new IntColumn(true),
      pipeline: new StringColumn(true),
      mapping: new StringColumn(true),
      attributes: this.#jsonAttributes ? new StringColumn(true) : new MapColumn(),
      schemaVersion: new IntColumn(false),
    };
    const c = this.#c;
    const byName: Record<string, StringColumn | IntColumn | MapColumn> = {
      event_id: c.eventId,
      event_type: c.eventType,
      sku: c.sku,
      gtin: c.gtin,
      location_id: c.locationId,
      location_type: c.locationType,
      quantity: c.quantity,
      unit_of_measure: c.uom,
      occurred_at: c.occurredAt,
      event_date: c.eventDate,
      document_id: c.documentId,
      document_line: c.documentLine,
      order_id: c.orderId,
      transfer_id: c.transferId,
      counterpart_location_id: c.counterpart,
      reason_code: c.reasonCode,
      source_system: c.system,
      source_connector: c.connector,
      source_record_ref: c.recordRef,
      source_received_at: c.receivedAt,
      source_pipeline: c.pipeline,
      source_mapping: c.mapping,
      attributes: c.attributes,
      schema_version: c.schemaVersion,
    };
    this.#order = eventFields(partitionBy, attributes).map((f) => [f.name, byName[f.name]]);
    const keep = (n: string) => !this.#skip.has(n);
    this.#has = {
      eventType: keep('event_type'),
      locationId: keep('location_id'),
      locationType: keep('location_type'),
      eventDate: keep('event_date'),
      system: keep('source_system'),
    };
  }

  /** Add one event; `at` is its parsed occurredAt, `qty` its unscaled quantity. */
  add(e: InventoryEvent, at: Instant, qty: number | bigint): void {
    const c = this.#c;
    const has = this.#has;
    this.rows++;
    c.eventId.add(e.eventId);
    if (has.eventType) c.eventType.add(e.eventType);
    c.sku.add(e.sku);
    c.gtin.add(e.gtin);
    if (has.locationId) c.locationId.add(e.locationId);
    if (has.locationType) c.locationType.add(e.locationType);
    if (typeof qty === 'number') c.quantity.add(qty);
    else c.quantity.addBig(qty);
    c.uom.add(e.unitOfMeasure);
    if (Math.abs(at.us) < 2 ** 53) c.occurredAt.add(at.us);
    else c.occurredAt.addBig(instantBig(at.day, e.occurredAt));
    if (has.eventDate) c.eventDate.add(at.day);
    const r = e.references;
    if (r) {
      c.documentId.add(r.documentId);
      c.documentLine.add(r.documentLine);
      c.orderId.add(r.orderId);
      c.transferId.add(r.transferId);
      c.counterpart.add(r.counterpartLocationId);
      c.reasonCode.add(r.reasonCode);
    } else {
      c.documentId.add(null);
      c.documentLine.add(null);
      c.orderId.add(null);
      c.transferId.add(null);
      c.counterpart.add(null);
      c.reasonCode.add(null);
    }
    const src = e.source;
    if (has.system) c.system.add(src.system);
    c.connector.add(src.connector);
    c.recordRef.add(src.recordRef);
    if (src.receivedAt !== this.#receivedStr) {
      const rv = this.#scratch;
      this.#receivedStr = src.receivedAt;
      this.#receivedUs = parseInstant(src.receivedAt, rv) && Math.abs(rv.us) < 2 ** 53 ? rv.us : undefined;
    }
    if (this.#receivedUs !== undefined) c.receivedAt.add(this.#receivedUs);
    else c.receivedAt.addNull(); // lineage: absent or not a canonical instant
    c.pipeline.add(src.pipeline);
    c.mapping.add(src.mapping);
    if (this.#jsonAttributes) {
      const a = e.attributes;
      (c.attributes as StringColumn).add(a == null ? null : JSON.stringify(a));
    } else (c.attributes as MapColumn).add(e.attributes);
    c.schemaVersion.add(e.schemaVersion);
  }

  /** End of a batch of events (see StringValues.seal). */
  seal(): void {
    for (const [, col] of this.#order) col.seal();
  }

  /** Approximate bytes held (encoded, before compression). */
  get bytes(): number {
    let n = 0;
    for (const [, col] of this.#order) n += col.bytes;
    return n;
  }

  /** Hands the row group over; the shredder is spent afterwards. */
  take(transfer: ArrayBuffer[]): RowGroupData {
    const columns: ColumnChunkData[] = [];
    for (const [, col] of this.#order) {
      if (col instanceof MapColumn) columns.push(...col.take(transfer));
      else columns.push(col.take(transfer));
    }
    return { rows: this.rows, columns };
  }
}
