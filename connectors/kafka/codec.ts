/**
 * What the Kafka sink puts in a record: value (Avro in the Confluent wire format, Avro with a fingerprint header,
 * or JSON), key (from event fields), partition (murmur2 of the key, as the Java client computes it) and the
 * lineage headers. Also the reverse for the source: fingerprint header → single-object framing.
 */
import { encodeEvent, INVENTORY_EVENT_AVSC } from '../../runtime/contracts/avro.ts';
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import {
  CANONICAL_FINGERPRINT,
  confluentHeader,
  registryClient,
  type RegistryOptions,
  SINGLE_OBJECT_MAGIC,
} from '../../runtime/formats/avro.ts';

/** Header names written by the sink (and read by the source into `$meta.headers`). */
export const HEADERS = {
  eventId: 'stockbridge.event.id',
  eventType: 'stockbridge.event.type',
  sourceSystem: 'stockbridge.source.system',
  recordRef: 'stockbridge.source.record',
  pipeline: 'stockbridge.pipeline',
  mapping: 'stockbridge.mapping',
  schemaVersion: 'stockbridge.schema.version',
  contentType: 'content-type',
  /** Raw-Avro values: 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema (Parsing Canonical Form). */
  fingerprint: 'stockbridge.avro.fingerprint',
  // dead letters
  dlqReason: 'stockbridge.dlq.reason',
  dlqStage: 'stockbridge.dlq.stage',
  dlqRef: 'stockbridge.dlq.record',
  dlqOrigin: 'stockbridge.dlq.origin',
} as const;

export type ValueFormat = 'avro' | 'json';

export interface ValueEncoder {
  readonly contentType: string;
  /** Resolves once (registry registration); then encode() is synchronous. */
  prepare(topics: string[]): Promise<void>;
  encode(e: InventoryEvent, topic: string): Buffer;
  /** Extra constant headers (fingerprint). */
  readonly headers: Record<string, Buffer>;
}

export function valueEncoder(format: ValueFormat, registry: (RegistryOptions & { subjectStrategy?: 'topic' | 'record' }) | undefined): ValueEncoder {
  if (format === 'json') {
    return {
      contentType: 'application/json',
      headers: { [HEADERS.contentType]: Buffer.from('application/json') },
      async prepare() {},
      encode: (e) => Buffer.from(JSON.stringify(e)),
    };
  }
  if (!registry?.url) {
    return {
      contentType: 'application/vnd.stockbridge.inventory-event.v1+avro',
      headers: { [HEADERS.fingerprint]: CANONICAL_FINGERPRINT },
      async prepare() {},
      encode: (e) => encodeEvent(e),
    };
  }
  const client = registryClient(registry);
  const prefixes = new Map<string, Buffer>();
  const recordName = `${INVENTORY_EVENT_AVSC.namespace}.${INVENTORY_EVENT_AVSC.name}`;
  return {
    contentType: 'application/vnd.stockbridge.inventory-event.v1+avro; framing=confluent',
    headers: {},
    async prepare(topics) {
      for (const t of topics) {
        const subject = registry.subjectStrategy === 'record' ? recordName : `${t}-value`;
        prefixes.set(t, confluentHeader(await client.register(subject, INVENTORY_EVENT_AVSC)));
      }
    },
    encode(e, topic) {
      const prefix = prefixes.get(topic);
      if (!prefix) throw new Error(`no schema id registered for topic ${topic}`);
      return Buffer.concat([prefix, encodeEvent(e)]);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Keys

export type KeyField = 'sku' | 'locationId' | 'eventId' | 'eventType' | 'gtin' | 'unitOfMeasure';
export const KEY_FIELDS: readonly KeyField[] = ['sku', 'locationId', 'eventId', 'eventType', 'gtin', 'unitOfMeasure'];

/** `sku`, `locationId|sku`, … → a function giving the key bytes (fields joined with `|`), or null for `none`. */
export function keyFunction(spec: string): ((e: InventoryEvent) => Buffer | null) | null {
  if (spec === 'none') return null;
  const fields = spec.split('|').map((f) => f.trim()) as KeyField[];
  for (const f of fields) if (!KEY_FIELDS.includes(f)) throw new Error(`key field '${f}' is not one of ${KEY_FIELDS.join(', ')}`);
  if (fields.length === 1) {
    const f = fields[0];
    return (e) => Buffer.from(String(e[f] ?? ''));
  }
  return (e) => Buffer.from(fields.map((f) => String(e[f] ?? '')).join('|'));
}

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), so keys land where a Java producer puts them. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const m = 0x5bd1e995;
  const r = 24;
  let h = 0x9747b28c ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4] & 0xff) + ((data[i4 + 1] & 0xff) << 8) + ((data[i4 + 2] & 0xff) << 16) + ((data[i4 + 3] & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rem = length & 3;
  const base = length & ~3;
  if (rem === 3) h ^= (data[base + 2] & 0xff) << 16;
  if (rem >= 2) h ^= (data[base + 1] & 0xff) << 8;
  if (rem >= 1) {
    h ^= data[base] & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition the Java DefaultPartitioner picks for a keyed record: toPositive(murmur2(key)) % partitions. */
export function partitionFor(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

// ---------------------------------------------------------------------------------------------------------------
// Headers

const b = (s: string | null | undefined): Buffer | undefined => (s ? Buffer.from(s) : undefined);

/** Lineage headers of one event (empty values are left out); `minimal`: the event id only. */
export function lineageHeaders(e: InventoryEvent, pipeline: string, constant: Record<string, Buffer>, minimal = false): Record<string, Buffer> {
  const h: Record<string, Buffer> = { ...constant };
  if (minimal) {
    h[HEADERS.eventId] = Buffer.from(e.eventId);
    return h;
  }
  const put = (k: string, v: string | null | undefined) => {
    const x = b(v);
    if (x) h[k] = x;
  };
  put(HEADERS.eventId, e.eventId);
  put(HEADERS.eventType, e.eventType);
  put(HEADERS.sourceSystem, e.source?.system);
  put(HEADERS.recordRef, e.source?.recordRef);
  put(HEADERS.pipeline, e.source?.pipeline ?? pipeline);
  put(HEADERS.mapping, e.source?.mapping);
  return h;
}

/** Source side: unframed Avro value + fingerprint header → Avro single-object encoding the avro format decodes. */
export function frameWithFingerprint(value: Buffer, fingerprint: Buffer): Buffer {
  if (fingerprint.length !== 8) return value;
  if (value.length >= 2 && value[0] === 0xc3 && value[1] === 0x01) return value;
  return Buffer.concat([SINGLE_OBJECT_MAGIC, fingerprint, value]);
}
