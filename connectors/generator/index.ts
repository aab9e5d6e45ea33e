/**
 * `generator`: seeded synthetic store sales at a given rate and count. Record k is a pure function of
 * (seed, k), so a restart resumes from the committed position and regenerates exactly the same records.
 */
import { EVENT_SCHEMA_VERSION, type InventoryEvent } from '../../runtime/contracts/event.ts';
import type { Source, SourceBatch, SourceContext, SourceRecord, SourceSpec } from '../../runtime/contracts/spi.ts';

export interface GeneratorOptions {
  count: number;
  rate: number;
  seed: number;
  stores: number;
  skus: number;
  start: string;
  stepMs: number;
  returnRate: number;
  shape: 'event' | 'store-sales';
  system: string;
}

export const generatorSource: SourceSpec<GeneratorOptions> = {
  kind: 'source',
  name: 'generator',
  summary: 'Seeded synthetic store sales at a given rate and count (demos, benchmarks, tests).',
  delivery: 'at-least-once; resumes from the committed position and regenerates identical records and event ids',
  options: {
    properties: {
      count: { type: 'integer', minimum: 0, default: 1000, description: 'Records to generate; 0 = no end.' },
      rate: { type: 'number', minimum: 0, default: 0, description: 'Records per second; 0 = as fast as possible.' },
      seed: { type: 'integer', default: 1, description: 'Same seed, same records.' },
      stores: { type: 'integer', minimum: 1, default: 50 },
      skus: { type: 'integer', minimum: 1, default: 5000 },
      start: { type: 'string', format: 'date-time', default: '2026-01-01T08:00:00Z', description: 'occurredAt of record 0.' },
      stepMs: { type: 'integer', minimum: 0, default: 1000, description: 'Time between consecutive records.' },
      returnRate: { type: 'number', minimum: 0, maximum: 1, default: 0.05, description: 'Share of RETURN records.' },
      shape: {
        enum: ['event', 'store-sales'],
        default: 'event',
        description: '`event`: canonical events (use with `mapping: identity`); `store-sales`: raw POS rows as a store CSV would carry them.',
      },
      system: { type: 'string', default: 'generator', description: 'source.system of generated events.' },
    },
  },
  example: 'source:\n  type: generator\n  count: 100000\n  rate: 5000\n  seed: 7',
  create(options, ctx) {
    return new GeneratorSource(options, ctx.source);
  },
};

/** 32-bit mix of (seed, k): splitmix-style, deterministic and fast. */
function mix(seed: number, k: number, salt: number): number {
  let h = (seed ^ Math.imul(k, 0x9e3779b1) ^ Math.imul(salt, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

interface GenPosition {
  next: number;
}

export class GeneratorSource implements Source<GenPosition> {
  readonly #o: GeneratorOptions;
  readonly #ctx: SourceContext;
  readonly #startMs: number;
  readonly #idPrefix: string;
  readonly #storeIds: string[];
  readonly #skuIds: string[];
  /** ISO prefix `YYYY-MM-DDTHH:MM:` of the minute starting at #minuteMs (formatting a Date per record is slow). */
  #minuteMs = Number.NaN;
  #minutePrefix = '';

  constructor(o: GeneratorOptions, ctx: SourceContext) {
    this.#o = o;
    this.#ctx = ctx;
    this.#startMs = Date.parse(o.start);
    this.#storeIds = Array.from({ length: o.stores }, (_, i) => `S${String(i + 1).padStart(3, '0')}`);
    this.#skuIds = Array.from({ length: o.skus }, (_, i) => `SKU${String(i + 1).padStart(6, '0')}`);
    // Event ids: UUIDv8 (RFC 9562 custom layout) = 48 bits of (pipeline, seed) + version + sequence number.
    // Deterministic from the source coordinates without hashing every record.
    // Layout: 80 bits of hash(pipeline, seed) with the version and variant nibbles set, then 48 bits of k.
    const p = hashString(ctx.pipeline);
    const h1 = mix(o.seed, p, 1).toString(16).padStart(8, '0');
    const h2 = mix(o.seed, p, 2).toString(16).padStart(8, '0');
    const h3 = mix(o.seed, p, 3).toString(16).padStart(8, '0');
    const variant = (0x8 | (Number.parseInt(h3[0], 16) & 0x3)).toString(16);
    this.#idPrefix = `${h1}-${h2.slice(0, 4)}-8${h2.slice(4, 7)}-${variant}${h3.slice(1, 4)}-`;
  }

  /** UUIDv8 for record k (k < 2^48). */
  eventId(k: number): string {
    return this.#idPrefix + k.toString(16).padStart(12, '0');
  }

  async *batches(): AsyncGenerator<SourceBatch<GenPosition>> {
    const { count, rate } = this.#o;
    const { batchSize, signal, state } = this.#ctx;
    const cp = await state.getCheckpoint<GenPosition>('generator');
    let k = cp?.next ?? 0;
    const t0 = performance.now();
    const k0 = k;
    while (!signal.aborted && (count === 0 || k < count)) {
      const n = count === 0 ? batchSize : Math.min(batchSize, count - k);
      const records: SourceRecord[] = new Array(n);
      for (let i = 0; i < n; i++) records[i] = this.record(k + i);
      k += n;
      yield { records, position: { next: k } };
      if (rate > 0) {
        const due = ((k - k0) / rate) * 1000 - (performance.now() - t0);
        if (due > 1) await new Promise((r) => setTimeout(r, due));
      }
    }
  }

  #iso(ms: number): string {
    const minute = ms - (((ms % 60_000) + 60_000) % 60_000);
    if (minute !== this.#minuteMs) {
      this.#minuteMs = minute;
      this.#minutePrefix = new Date(minute).toISOString().slice(0, 17);
    }
    const r = ms - minute;
    const sec = Math.floor(r / 1000);
    const milli = r - sec * 1000;
    return `${this.#minutePrefix}${sec < 10 ? '0' : ''}${sec}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  }

  record(k: number): SourceRecord {
    const o = this.#o;
    const r = mix(o.seed, k, 0);
    const store = r % o.stores;
    const sku = mix(o.seed, k, 3) % o.skus;
    const isReturn = (mix(o.seed, k, 4) % 10_000) / 10_000 < o.returnRate;
    const qty = (r >>> 24) % 5 === 0 ? 2 : 1;
    const ms = this.#startMs + k * o.stepMs;
    const ref = `gen:${o.seed}:${k}`;
    const storeId = this.#storeIds[store];
    const skuId = this.#skuIds[sku];
    if (o.shape === 'store-sales') {
      const iso = this.#iso(ms);
      return {
        ref,
        value: {
          store: storeId,
          sku: skuId,
          qty: String(isReturn ? -qty : qty),
          type: isReturn ? 'RETURN' : 'SALE',
          date: iso.slice(0, 10).replaceAll('-', ''),
          time: iso.slice(11, 19).replaceAll(':', ''),
          ticket: `T${k}`,
          line: '1',
          price: `${((sku + 1) % 50) + 1}.99`,
        },
      };
    }
    const event: InventoryEvent = {
      schemaVersion: EVENT_SCHEMA_VERSION,
      eventId: this.eventId(k),
      eventType: isReturn ? 'RETURN' : 'SALE',
      sku: skuId,
      gtin: null,
      locationId: storeId,
      locationType: 'STORE',
      quantity: isReturn ? `${qty}.000` : `-${qty}.000`,
      unitOfMeasure: 'EA',
      occurredAt: this.#iso(ms),
      references: { documentId: `T${k}`, documentLine: '1' },
      source: { system: o.system, connector: 'generator', recordRef: ref, receivedAt: '' },
      attributes: {},
    };
    return { ref, value: event };
  }

  async commit(positions: GenPosition[]): Promise<void> {
    await this.#ctx.state.putCheckpoint('generator', positions[positions.length - 1]);
  }

  async close(): Promise<void> {}
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
