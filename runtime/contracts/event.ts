/**
 * The canonical inventory event: the one contract every source maps into and every sink writes.
 *
 * Three descriptions of it live side by side and are kept consistent by test/unit/contracts.test.ts:
 *  - this TypeScript type (what the code uses),
 *  - `inventory-event.avsc.json` (Avro, for Kafka and the Schema Registry),
 *  - `inventory-event.schema.json` (JSON Schema, for JSON lines and editors).
 *
 * Evolution rules (docs/canonical-event.md): only Avro-compatible changes (add an optional field with a
 * default, widen an enum at the end); bump EVENT_SCHEMA_VERSION on every change.
 */

export const EVENT_SCHEMA_VERSION = 1 as const;

/** Quantity scale: every quantity is an exact decimal with exactly this many fraction digits. */
export const QUANTITY_SCALE = 3 as const;
/** Quantity precision (total digits), as in SAP QUAN 13,3 with headroom: decimal(18,3). */
export const QUANTITY_PRECISION = 18 as const;

export const EVENT_TYPES = [
  'RECEIPT',
  'SALE',
  'RETURN',
  'ADJUSTMENT',
  'TRANSFER_OUT',
  'TRANSFER_IN',
  'COUNT',
  'SNAPSHOT',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);

/** Event types whose quantity is an absolute level, not a signed delta. */
export const ABSOLUTE_EVENT_TYPES: ReadonlySet<EventType> = new Set(['COUNT', 'SNAPSHOT']);

/** Business references: optional, all strings. */
export interface EventReferences {
  /** Source document (receipt number, SAP material document, POS ticket). */
  documentId?: string | null;
  /** Line or item within the document. */
  documentLine?: string | null;
  /** Purchase, sales or production order. */
  orderId?: string | null;
  /** Transfer id shared by the TRANSFER_OUT and TRANSFER_IN legs of one movement. */
  transferId?: string | null;
  /** The other location of a transfer. */
  counterpartLocationId?: string | null;
  /** Reason code, e.g. an SAP movement type (`101`) or a store void reason. */
  reasonCode?: string | null;
}

/** Where the event came from. */
export interface EventSource {
  /** Source system, e.g. `store-pos`, `sap-s4`, `mainframe-wms`. */
  system: string;
  /** Connector type that read it, e.g. `file-drop`, `ibm-mq`. */
  connector: string;
  /** Record reference within the source: `sales_0042.csv:17`, an MQ MsgId, `topic/3/1204`. */
  recordRef: string;
  /** When Stockbridge received the record (ISO-8601 UTC). */
  receivedAt: string;
  /** Pipeline that produced the event. */
  pipeline?: string | null;
  /** Mapping name and version, `store-sales@3`. */
  mapping?: string | null;
}

export interface InventoryEvent {
  schemaVersion: number;
  /** Deterministic id (UUID form) derived from source coordinates: a replayed record gets the same id. */
  eventId: string;
  eventType: EventType;
  sku: string;
  gtin?: string | null;
  locationId: string;
  /** STORE, DC, WAREHOUSE, PLANT, STORAGE_LOCATION, ... (free text, upper case by convention). */
  locationType?: string | null;
  /** Exact decimal as a string with QUANTITY_SCALE fraction digits, e.g. `-2.000`. Signed for deltas. */
  quantity: string;
  unitOfMeasure: string;
  /** ISO-8601 UTC with `Z`, millisecond or microsecond precision. */
  occurredAt: string;
  references?: EventReferences | null;
  source: EventSource;
  attributes?: Record<string, string> | null;
}

const QUANTITY_RE = /^-?(0|[1-9]\d{0,14})\.\d{3}$/;
const INSTANT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?Z$/;

export function isQuantity(value: unknown): value is string {
  return typeof value === 'string' && QUANTITY_RE.test(value) && value !== '-0.000';
}

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at i as a number (the shape was checked by INSTANT_RE). */
function d2(s: string, i: number): number {
  return (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;
}

/** ISO-8601 UTC instant with `Z`, ms or µs, and a real calendar date (checked without Date.parse: hot path). */
let lastInstant = '';
let prevInstant = '';

export function isInstant(value: unknown): value is string {
  // receivedAt is the same for a whole batch, occurredAt often repeats: remember the last two valid ones
  if (value === lastInstant || value === prevInstant) return true;
  if (typeof value !== 'string' || !INSTANT_RE.test(value)) return false;
  const year = d2(value, 0) * 100 + d2(value, 2);
  const month = d2(value, 5);
  const day = d2(value, 8);
  if (month < 1 || month > 12 || day < 1 || day > DAYS[month - 1]) return false;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return false;
  if (d2(value, 11) > 23 || d2(value, 14) > 59 || d2(value, 17) > 59) return false;
  prevInstant = lastInstant;
  lastInstant = value;
  return true;
}

/**
 * Checks an object against the canonical contract. Returns the first problem found, or null.
 * Used by the identity mapping (records that claim to be canonical events) and by tests.
 */
export function checkEvent(e: unknown): string | null {
  if (e === null || typeof e !== 'object') return 'event must be an object';
  const ev = e as Record<string, unknown>;
  if (typeof ev.eventId !== 'string' || ev.eventId.length === 0) return 'eventId must be a non-empty string';
  if (!EVENT_TYPE_SET.has(ev.eventType as EventType)) return `eventType must be one of ${EVENT_TYPES.join(', ')}`;
  if (typeof ev.sku !== 'string' || ev.sku.length === 0) return 'sku must be a non-empty string';
  if (typeof ev.locationId !== 'string' || ev.locationId.length === 0) return 'locationId must be a non-empty string';
  if (!isQuantity(ev.quantity)) return `quantity must be an exact decimal with ${QUANTITY_SCALE} fraction digits, got ${JSON.stringify(ev.quantity)}`;
  if (ABSOLUTE_EVENT_TYPES.has(ev.eventType as EventType) && (ev.quantity as string).startsWith('-'))
    return `quantity of a ${String(ev.eventType)} is an absolute level and cannot be negative`;
  if (typeof ev.unitOfMeasure !== 'string' || ev.unitOfMeasure.length === 0) return 'unitOfMeasure must be a non-empty string';
  if (!isInstant(ev.occurredAt)) return 'occurredAt must be an ISO-8601 UTC instant ending in Z';
  const src = ev.source as Record<string, unknown> | undefined;
  if (!src || typeof src !== 'object') return 'source lineage is required';
  for (const k of ['system', 'connector', 'recordRef'] as const)
    if (typeof src[k] !== 'string' || (src[k] as string).length === 0) return `source.${k} must be a non-empty string`;
  if (!isInstant(src.receivedAt)) return 'source.receivedAt must be an ISO-8601 UTC instant ending in Z';
  if (ev.attributes != null) {
    if (typeof ev.attributes !== 'object') return 'attributes must be a map of strings';
    const attrs = ev.attributes as Record<string, unknown>;
    for (const k of Object.keys(attrs)) if (typeof attrs[k] !== 'string') return `attributes.${k} must be a string`;
  }
  return null;
}
