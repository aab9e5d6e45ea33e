/**
 * `avro` input format: Avro-encoded message payloads (Kafka), decoded into canonical events (with the canonical
 * schema) or into plain objects (other producers' schemas, for a mapping). Three framings are recognised:
 *
 *  - Confluent wire format: magic byte 0x00, 4-byte big-endian schema id, Avro binary. The writer schema is fetched
 *    from the Schema Registry (`schemaRegistry.url`) by id and cached; sources call `prepareMessages()` first so the
 *    (synchronous) decode finds every id resolved.
 *  - Avro single-object encoding: 0xC3 0x01, 8-byte little-endian CRC-64-AVRO (Rabin) fingerprint of the writer
 *    schema's Parsing Canonical Form, Avro binary. The Kafka source turns the `stockbridge.avro.fingerprint` header of
 *    unframed messages into this framing, so fingerprinted messages decode without a registry.
 *  - Raw Avro binary: decoded with `schema` (an .avsc file) or the canonical event schema.
 *
 * A writer schema that is another version of the canonical event is resolved into the current one (Avro schema
 * resolution), so consumers keep reading through compatible schema evolution.
 *
 * Also home of the small Confluent Schema Registry client and the Rabin fingerprint, shared with the Kafka sink.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import avro from 'avsc';
import { INVENTORY_EVENT_AVSC, inventoryEventType } from '../contracts/avro.ts';
import type { BoundFormat, DecodedRecord, FormatSpec, JsonSchema, StreamDecoder } from '../contracts/spi.ts';

// ---------------------------------------------------------------------------------------------------------------
// CRC-64-AVRO (Rabin) fingerprints, as in the Avro specification ("Schema Fingerprints").

const EMPTY64 = 0xc15d213aa4d7a795n;
const MASK64 = (1n << 64n) - 1n;
let rabinTable: bigint[] | undefined;

/** CRC-64-AVRO of the bytes, as an unsigned 64-bit bigint. */
export function rabin64(data: Uint8Array): bigint {
  if (!rabinTable) {
    rabinTable = new Array(256);
    for (let i = 0; i < 256; i++) {
      let fp = BigInt(i);
      for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY64 & -(fp & 1n) & MASK64);
      rabinTable[i] = fp;
    }
  }
  let fp = EMPTY64;
  for (const b of data) fp = (fp >> 8n) ^ rabinTable[Number((fp ^ BigInt(b)) & 0xffn)];
  return fp;
}

/** Parsing Canonical Form of a schema (avsc emits it: names resolved, attributes stripped, canonical key order). */
export function parsingCanonicalForm(schema: unknown): string {
  return JSON.stringify(avro.Type.forSchema(schema as avro.Schema).schema());
}

/** The 8-byte little-endian CRC-64-AVRO fingerprint of a schema, as carried by single-object encoding. */
export function schemaFingerprint(schema: unknown): Buffer {
  const fp = rabin64(Buffer.from(parsingCanonicalForm(schema), 'utf8'));
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(fp);
  return b;
}

export const CANONICAL_FINGERPRINT: Buffer = schemaFingerprint(INVENTORY_EVENT_AVSC);
export const SINGLE_OBJECT_MAGIC = Buffer.from([0xc3, 0x01]);

// ---------------------------------------------------------------------------------------------------------------
// Confluent Schema Registry client (REST, any compatible registry: Confluent, Karapace, Apicurio ccompat, Redpanda).

export interface RegistryOptions {
  url: string;
  username?: string;
  password?: string;
  timeoutMs?: number;
}

export class SchemaRegistryClient {
  readonly url: string;
  readonly #auth: string | undefined;
  readonly #timeoutMs: number;
  readonly #byId = new Map<number, Promise<unknown>>();
  readonly #registered = new Map<string, Promise<number>>();

  constructor(o: RegistryOptions) {
    this.url = o.url.replace(/\/+$/, '');
    this.#auth =
      o.username !== undefined
        ? `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}`
        : undefined;
    this.#timeoutMs = o.timeoutMs ?? 10_000;
  }

  async #request(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
    if (body !== undefined) headers['content-type'] = 'application/vnd.schemaregistry.v1+json';
    if (this.#auth) headers.authorization = this.#auth;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new RegistryError(`schema registry ${this.url} unreachable: ${(err as Error).message}`, 0);
    }
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      // not JSON: keep the text in the message below
    }
    if (!res.ok) {
      const detail = (json.message as string | undefined) ?? text.slice(0, 200);
      throw new RegistryError(`schema registry ${method} ${path}: HTTP ${res.status} ${detail}`, res.status);
    }
    return json;
  }

  /** Registers (or finds) the schema under the subject; resolves to its global id. Cached. */
  register(subject: string, schema: unknown): Promise<number> {
    const text = JSON.stringify(schema);
    const key = `${subject}\u0000${text}`;
    let p = this.#registered.get(key);
    if (!p) {
      p = this.#request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema: text }).then((r) => {
        const id = r.id;
        if (typeof id !== 'number') throw new RegistryError(`schema registry returned no id for subject ${subject}`, 0);
        this.#byId.set(id, Promise.resolve(schema));
        return id;
      });
      p.catch(() => this.#registered.delete(key));
      this.#registered.set(key, p);
    }
    return p;
  }

  /** The writer schema (parsed JSON) for a global id. Cached. */
  schemaById(id: number): Promise<unknown> {
    let p = this.#byId.get(id);
    if (!p) {
      p = this.#request('GET', `/schemas/ids/${id}`).then((r) => {
        if (r.schemaType !== undefined && r.schemaType !== 'AVRO')
          throw new RegistryError(`schema id ${id} is a ${String(r.schemaType)} schema, not Avro`, 0);
        return JSON.parse(String(r.schema));
      });
      p.catch(() => this.#byId.delete(id));
      this.#byId.set(id, p);
    }
    return p;
  }
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

const clients = new Map<string, SchemaRegistryClient>();
/** One client (and cache) per registry URL and credentials in the process. */
export function registryClient(o: RegistryOptions): SchemaRegistryClient {
  const key = `${o.url}\u0000${o.username ?? ''}\u0000${o.password ?? ''}`;
  let c = clients.get(key);
  if (!c) clients.set(key, (c = new SchemaRegistryClient(o)));
  return c;
}

/** Confluent framing: 0x00 + 4-byte big-endian schema id. */
export function confluentHeader(id: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = 0;
  b.writeUInt32BE(id, 1);
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// Logical types for writer schemas other than the canonical one.

class AnyDecimal extends avro.types.LogicalType {
  readonly #scale: number;
  constructor(schema: avro.Schema, opts?: avro.ForSchemaOptions) {
    super(schema, opts);
    this.#scale = Number((schema as { scale?: number }).scale ?? 0);
  }
  override _fromValue(buf: Buffer): string {
    let n = buf.length ? BigInt.asIntN(buf.length * 8, BigInt(`0x${buf.toString('hex')}`)) : 0n;
    const neg = n < 0n;
    if (neg) n = -n;
    if (this.#scale === 0) return `${neg ? '-' : ''}${n}`;
    const s = n.toString().padStart(this.#scale + 1, '0');
    return `${neg ? '-' : ''}${s.slice(0, -this.#scale)}.${s.slice(-this.#scale)}`;
  }
  override _toValue(): Buffer {
    throw new Error('decode only');
  }
}

class TimestampMillis extends avro.types.LogicalType {
  override _fromValue(v: number): string {
    return new Date(v).toISOString();
  }
  override _toValue(v: string): number {
    return Date.parse(v);
  }
}

class TimestampMicros extends avro.types.LogicalType {
  override _fromValue(v: number): string {
    const ms = Math.floor(v / 1000);
    const us = v - ms * 1000;
    const iso = new Date(ms).toISOString();
    return us === 0 ? iso : `${iso.slice(0, -1)}${String(us).padStart(3, '0')}Z`;
  }
  override _toValue(v: string): number {
    return Date.parse(v) * 1000;
  }
}

const GENERIC_LOGICAL = {
  decimal: AnyDecimal,
  'timestamp-millis': TimestampMillis,
  'timestamp-micros': TimestampMicros,
};
const CANONICAL_NAME = `${INVENTORY_EVENT_AVSC.namespace}.${INVENTORY_EVENT_AVSC.name}`;

/** A decoder for one writer schema: the canonical type itself, a resolver into it, or a generic decoder. */
interface Reader {
  decode(buf: Buffer, pos: number): unknown;
}

function readerFor(writer: unknown): Reader {
  const wt = avro.Type.forSchema(writer as avro.Schema, { logicalTypes: GENERIC_LOGICAL });
  if (parsingCanonicalForm(writer) === parsingCanonicalForm(INVENTORY_EVENT_AVSC)) {
    return { decode: (buf, pos) => readWhole(inventoryEventType, buf, pos) };
  }
  if (wt.name === CANONICAL_NAME) {
    const wtc = avro.Type.forSchema(writer as avro.Schema, { logicalTypes: GENERIC_LOGICAL });
    const resolver = inventoryEventType.createResolver(wtc);
    return { decode: (buf, pos) => readWhole(inventoryEventType, buf, pos, resolver) };
  }
  return { decode: (buf, pos) => readWhole(wt, buf, pos) };
}

function readWhole(t: avro.Type, buf: Buffer, pos: number, resolver?: avro.Resolver): unknown {
  const r = t.decode(buf, pos, resolver);
  if (r.offset < 0) throw new Error('truncated Avro record');
  if (r.offset !== buf.length) throw new Error(`${buf.length - r.offset} trailing bytes after the Avro record`);
  return r.value;
}

// ---------------------------------------------------------------------------------------------------------------
// The format.

export interface AvroFormatOptions {
  framing?: 'auto' | 'confluent' | 'single-object' | 'raw';
  schema?: string;
  schemaRegistry?: RegistryOptions;
}

/** Extra method of the bound avro format: message sources await it before yielding (registry look-ups). */
export interface PreparingFormat extends BoundFormat {
  prepareMessages(payloads: Iterable<Uint8Array | string | undefined>): Promise<void> | undefined;
}

class BoundAvro implements PreparingFormat {
  readonly name = 'avro';
  readonly #framing: NonNullable<AvroFormatOptions['framing']>;
  readonly #raw: Reader;
  readonly #byFingerprint = new Map<string, Reader>();
  readonly #byId = new Map<number, Reader>();
  readonly #failedIds = new Map<number, string>();
  readonly #registry: SchemaRegistryClient | undefined;

  constructor(o: AvroFormatOptions, baseDir: string) {
    this.#framing = o.framing ?? 'auto';
    let writer: unknown = INVENTORY_EVENT_AVSC;
    if (o.schema) writer = JSON.parse(readFileSync(resolve(baseDir, o.schema), 'utf8'));
    this.#raw = readerFor(writer);
    this.#byFingerprint.set(CANONICAL_FINGERPRINT.toString('hex'), readerFor(INVENTORY_EVENT_AVSC));
    if (o.schema) this.#byFingerprint.set(schemaFingerprint(writer).toString('hex'), this.#raw);
    if (o.schemaRegistry?.url) this.#registry = registryClient(o.schemaRegistry);
  }

  streamDecoder(): StreamDecoder {
    throw new Error('the avro format decodes message payloads (Kafka); Avro container files are not supported');
  }

  prepareMessages(payloads: Iterable<Uint8Array | string | undefined>): Promise<void> | undefined {
    if (!this.#registry || this.#framing === 'raw' || this.#framing === 'single-object') return undefined;
    let missing: Set<number> | undefined;
    for (const p of payloads) {
      if (!p || typeof p === 'string' || p.length < 5 || p[0] !== 0) continue;
      const id = ((p[1] << 24) | (p[2] << 16) | (p[3] << 8) | p[4]) >>> 0;
      if (!this.#byId.has(id) && !this.#failedIds.has(id)) (missing ??= new Set()).add(id);
    }
    if (!missing) return undefined;
    const registry = this.#registry;
    return Promise.all(
      [...missing].map(async (id) => {
        try {
          this.#byId.set(id, readerFor(await registry.schemaById(id)));
        } catch (err) {
          // 404: a bad id is a property of the message (reject it); anything else (registry down) is retried.
          if (err instanceof RegistryError && err.status === 404) this.#failedIds.set(id, err.message);
          else throw err;
        }
      }),
    ).then(() => undefined);
  }

  decodeMessage(payload: Uint8Array | string, ref: string): DecodedRecord[] {
    const buf =
      typeof payload === 'string'
        ? Buffer.from(payload, 'latin1')
        : Buffer.isBuffer(payload)
          ? payload
          : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const rec: DecodedRecord = { raw: payload, offset: 0, end: buf.length };
    try {
      rec.value = this.#decode(buf);
    } catch (err) {
      rec.error = { stage: 'decode', reason: `avro: ${(err as Error).message}`, file: ref };
    }
    return [rec];
  }

  #decode(buf: Buffer): unknown {
    const f = this.#framing;
    if ((f === 'auto' || f === 'confluent') && buf.length >= 5 && buf[0] === 0) {
      const id = buf.readUInt32BE(1);
      const r = this.#byId.get(id);
      if (r) return r.decode(buf, 5);
      const failed = this.#failedIds.get(id);
      if (failed) throw new Error(`schema id ${id}: ${failed}`);
      if (!this.#registry)
        throw new Error(`Confluent-framed message (schema id ${id}) but the format has no schemaRegistry.url`);
      throw new Error(`schema id ${id} was not resolved from the registry`);
    }
    if ((f === 'auto' || f === 'single-object') && buf.length >= 10 && buf[0] === 0xc3 && buf[1] === 0x01) {
      const fp = buf.toString('hex', 2, 10);
      const r = this.#byFingerprint.get(fp);
      if (!r)
        throw new Error(`unknown writer schema fingerprint ${fp} (CRC-64-AVRO); configure its .avsc with \`schema:\``);
      return r.decode(buf, 10);
    }
    if (f === 'confluent') throw new Error('not in the Confluent wire format (no magic byte 0)');
    if (f === 'single-object') throw new Error('not in Avro single-object encoding (no C3 01 marker)');
    return this.#raw.decode(buf, 0);
  }
}

export const avroFormat: FormatSpec = {
  name: 'avro',
  summary: 'Avro message payloads: Confluent wire format (Schema Registry), single-object/fingerprint, or raw binary.',
  options: {
    type: 'object',
    additionalProperties: false,
    properties: {
      framing: {
        enum: ['auto', 'confluent', 'single-object', 'raw'],
        default: 'auto',
        description:
          '`auto`: magic byte 0x00 → Confluent (schema id), 0xC3 0x01 → single-object (CRC-64-AVRO fingerprint), else raw binary.',
      },
      schema: {
        type: 'string',
        description: 'Writer schema (.avsc) of raw payloads; default: the canonical event schema.',
      },
      schemaRegistry: {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        description: 'Confluent-compatible Schema Registry used to resolve schema ids.',
        properties: {
          url: { type: 'string' },
          username: { type: 'string' },
          password: { type: 'string' },
          timeoutMs: { type: 'integer', minimum: 100, default: 10_000 },
        },
      },
    },
  } satisfies JsonSchema,
  bind(options, baseDir) {
    return new BoundAvro(options as AvroFormatOptions, baseDir);
  },
};
