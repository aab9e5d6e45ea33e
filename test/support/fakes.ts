/**
 * Small in-process components for engine tests: a scripted source, a mapping over plain objects, and sinks with
 * controllable acknowledgement. Test doubles of our own SPI only — no external system is faked here.
 */
import { EVENT_SCHEMA_VERSION, type InventoryEvent } from '../../runtime/contracts/event.ts';
import { EventIdNamespace } from '../../runtime/contracts/event-id.ts';
import { FILTERED, MAPPED, type CompiledMapping } from '../../runtime/contracts/mapping.ts';
import type { BoundFormat, DecodedRecord, Logger, Sink, Source, SourceBatch, SourceRecord } from '../../runtime/contracts/spi.ts';
import { TransientError } from '../../runtime/contracts/spi.ts';

export const silentLog: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLog;
  },
};

/** JSON-lines format (one JSON object per line) — enough for engine tests that decode message payloads. */
export const jsonLinesFormat: BoundFormat = {
  name: 'test-jsonl',
  streamDecoder() {
    throw new Error('not used');
  },
  decodeMessage(payload): DecodedRecord[] {
    const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
    return text
      .split('\n')
      .filter(Boolean)
      .map((raw, i) => {
        try {
          return { value: JSON.parse(raw), raw, offset: i, end: i + 1 };
        } catch (err) {
          return { raw, offset: i, end: i + 1, error: { stage: 'decode' as const, reason: (err as Error).message } };
        }
      });
  },
};

/** value {sku, qty, store?} → one SALE event; qty 'bad' → reject; sku '' → filtered; qty 'x2' → two events. */
export function testMapping(): CompiledMapping {
  const ns = new EventIdNamespace('test');
  return {
    id: 'test@1',
    name: 'test',
    version: '1',
    format: jsonLinesFormat,
    map(record: SourceRecord, value: unknown, out: InventoryEvent[], ctx) {
      const v = value as { sku: string; qty: string; store?: string };
      if (v.sku === '') return FILTERED;
      if (v.qty === 'bad') return { stage: 'map', reason: `qty is not a number: ${v.qty}`, field: 'qty' };
      const n = v.qty === 'x2' ? 2 : 1;
      for (let i = 0; i < n; i++)
        out.push({
          schemaVersion: EVENT_SCHEMA_VERSION,
          eventId: ns.id(record.ref, i),
          eventType: 'SALE',
          sku: v.sku,
          locationId: v.store ?? 'S1',
          quantity: '-1.000',
          unitOfMeasure: 'EA',
          occurredAt: '2026-11-21T10:00:00.000Z',
          source: { system: 'test', connector: ctx.connector, recordRef: record.ref, receivedAt: ctx.receivedAt },
        });
      return MAPPED;
    },
  };
}

/** A source that yields the given batches and records every commit/rollback. */
export class ScriptedSource implements Source<number> {
  readonly committed: number[] = [];
  readonly commitCalls: number[][] = [];
  readonly rolledBack: number[] = [];
  read = 0;
  readonly #batches: Array<Omit<SourceBatch<number>, 'position'>>;
  readonly #signal?: AbortSignal;
  /** When set, the source stays open (no more batches, not ended) until this resolves: a live, idle source. */
  holdOpen?: Promise<void>;
  constructor(batches: Array<Omit<SourceBatch<number>, 'position'>>, signal?: AbortSignal) {
    this.#batches = batches;
    this.#signal = signal;
  }
  async *batches(): AsyncGenerator<SourceBatch<number>> {
    for (let i = 0; i < this.#batches.length; i++) {
      if (this.#signal?.aborted) return;
      this.read++;
      yield { ...this.#batches[i], position: i };
      await new Promise((r) => setImmediate(r));
    }
    await this.holdOpen;
  }
  async commit(positions: number[]): Promise<void> {
    this.commitCalls.push(positions);
    this.committed.push(...positions);
  }
  async rollback(positions: number[]): Promise<void> {
    this.rolledBack.push(...positions);
  }
  async close(): Promise<void> {}
}

export function records(n: number, from = 0, make?: (i: number) => unknown): SourceRecord[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { ref: `r:${i}`, value: make ? make(i) : { sku: `SKU${i}`, qty: '1' } };
  });
}

/** Acknowledges immediately and keeps every event. */
export class CollectingSink implements Sink {
  readonly events: InventoryEvent[] = [];
  async write(events: readonly InventoryEvent[]): Promise<void> {
    this.events.push(...events);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Holds every write until flush() (like a Parquet file waiting to be published). */
export class BufferingSink implements Sink {
  readonly published: InventoryEvent[] = [];
  flushes = 0;
  #held: Array<{ events: readonly InventoryEvent[]; resolve: () => void }> = [];
  write(events: readonly InventoryEvent[]): Promise<void> {
    return new Promise((resolve) => this.#held.push({ events, resolve }));
  }
  get held(): number {
    return this.#held.length;
  }
  async flush(): Promise<void> {
    this.flushes++;
    const h = this.#held;
    this.#held = [];
    for (const w of h) {
      this.published.push(...w.events);
      w.resolve();
    }
  }
  async close(): Promise<void> {}
}

/** Fails with a TransientError while `down` is true (a broker that is unreachable). */
export class FlakySink extends CollectingSink {
  down = true;
  attempts = 0;
  override async write(events: readonly InventoryEvent[]): Promise<void> {
    this.attempts++;
    if (this.down) throw new TransientError('connection refused');
    await super.write(events);
  }
}
