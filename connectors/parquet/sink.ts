/**
 * The Parquet sink: routes events to one open file per partition, cuts row groups, rolls files by rows, bytes
 * and age, and acknowledges a write() only when every file holding its events is published.
 *
 * Threads: shredding events into columns happens here, on the pipeline's thread, in O(batch) steps; encoding,
 * compression and file I/O happen in the writer thread (ParquetWriterBackend), so no long synchronous work runs
 * on the event loop.
 */
import { randomBytes } from 'node:crypto';
import { EVENT_SCHEMA_VERSION, type InventoryEvent } from '../../runtime/contracts/event.ts';
import { type DeadLetterInput, type Logger, type Sink, TransientError, type WriteInfo } from '../../runtime/contracts/spi.ts';
import { type AttributesAs, dayString, EventShredder, type Instant, type PartitionColumn, parseInstant, parseQuantity } from './events.ts';
import type { FileTarget, ManifestInput, PublishedFile } from './file-writer.ts';
import type { ParquetWriterBackend } from './protocol.ts';

export interface SinkSettings {
  pipeline: string;
  partitionBy: PartitionColumn[];
  rollRows: number;
  rollBytes: number;
  rollSeconds: number;
  rowGroupSize: number;
  maxOpenFiles: number;
  manifest: boolean;
  attributes: AttributesAs;
}

/** errno codes worth retrying: the condition can clear without anyone changing the configuration. */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR', 'ETIMEDOUT', 'ENOMEM']);

/** Maps a writer failure to what the engine should do: TransientError → retry with backoff, Error → stop. */
export function classify(err: unknown): Error {
  const e = err as Error & { code?: string };
  if (e?.code && TRANSIENT_CODES.has(e.code)) return new TransientError(`parquet: ${e.message}`, { cause: err });
  return new Error(`parquet: ${e?.message ?? String(err)}`, { cause: err });
}

/** Hive-style escaping of a partition value (the characters Hive and Spark escape), so it is one path segment. */
export function escapePartitionValue(v: string | null | undefined): string {
  if (v === null || v === undefined || v === '') return '__HIVE_DEFAULT_PARTITION__';
  return v.replace(/[\u0000-\u001f"#%'*/:=?\\\u007f{[\]^]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** File names sort by creation time: `<yyyymmddThhmmssSSSZ>-<pipeline>-<seq>-<random>.parquet`. */
export function fileName(pipeline: string, seq: number, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  const safe = pipeline.replace(/[^A-Za-z0-9_-]/g, '_') || 'pipeline';
  return `${ts}-${safe}-${String(seq).padStart(6, '0')}-${randomBytes(4).toString('hex')}.parquet`;
}

/** `2026-11-21T10:15:02.123456Z` from microseconds since the epoch. */
export function isoMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 23)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

/** One pending write(): settles when every file it put events in is published (or one fails). */
class WriteHandle {
  pending = 1; // the write() call itself, released when it has routed every event
  settled = false;
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (e: Error) => void;
  constructor() {
    this.promise = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  done(): void {
    if (--this.pending === 0 && !this.settled) {
      this.settled = true;
      this.resolve();
    }
  }
  fail(err: Error): void {
    if (!this.settled) {
      this.settled = true;
      this.reject(err);
    }
  }
}

interface OpenFile {
  target: FileTarget;
  partition: Record<string, string>;
  shredder: EventShredder;
  rows: number;
  /** Encoded bytes already handed to the writer (before compression). */
  encodedBytes: number;
  waiters: WriteHandle[];
  lastWaiter: WriteHandle | undefined;
  timer: NodeJS.Timeout | undefined;
  minUs: number;
  maxUs: number;
  minId: string | undefined;
  maxId: string | undefined;
  key: string | number;
}

export class ParquetSink implements Sink {
  readonly #s: SinkSettings;
  readonly #backend: ParquetWriterBackend;
  readonly #log: Logger;
  readonly #deadLetter: (e: DeadLetterInput) => Promise<void>;
  readonly #files = new Map<string | number, OpenFile>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #at: Instant = { us: 0, day: 0 };
  #seq = 0;
  #ids = 0;
  #closed = false;
  /** Compressed / encoded bytes of the files published so far: turns encoded bytes into a file size estimate. */
  #ratio = 1;
  #lastQty: unknown;
  #lastQtyValue: number | bigint | undefined;
  readonly #keyOf: (e: InventoryEvent, at: Instant) => string | number;
  /** Files published since start (for tests and metrics). */
  readonly published: PublishedFile[] = [];

  constructor(settings: SinkSettings, backend: ParquetWriterBackend, log: Logger, deadLetter: (e: DeadLetterInput) => Promise<void>) {
    this.#s = settings;
    this.#backend = backend;
    this.#log = log;
    this.#deadLetter = deadLetter;
    const p = settings.partitionBy;
    if (p.length === 0) this.#keyOf = () => 0;
    else if (p.length === 1 && p[0] === 'event_date') this.#keyOf = (_e, at) => at.day;
    else this.#keyOf = (e, at) => p.map((c) => partitionValue(c, e, at)).join('\u0000');
  }

  write(events: readonly InventoryEvent[], _info?: WriteInfo): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('parquet sink is closed'));
    const h = new WriteHandle();
    const at = this.#at;
    const rowGroupSize = this.#s.rowGroupSize;
    const rollRows = this.#s.rollRows;
    const manifest = this.#s.manifest;
    const touched: OpenFile[] = [];
    let rejects: DeadLetterInput[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      let qty: number | bigint | undefined;
      if (e.quantity === this.#lastQty) qty = this.#lastQtyValue;
      else {
        qty = parseQuantity(e.quantity);
        this.#lastQty = e.quantity;
        this.#lastQtyValue = qty;
      }
      const bad = qty === undefined ? 'quantity' : !parseInstant(e.occurredAt, at) ? 'occurredAt' : undefined;
      if (bad) {
        (rejects ??= []).push({
          stage: 'sink',
          reason: `parquet: ${bad} ${JSON.stringify(bad === 'quantity' ? e.quantity : e.occurredAt)} is not canonical`,
          ref: e.source?.recordRef ?? e.eventId,
          payload: JSON.stringify(e),
          error: { stage: 'sink', reason: `${bad} is not canonical`, field: bad },
        });
        continue;
      }
      const key = this.#keyOf(e, at);
      let f = this.#files.get(key);
      if (!f) f = this.#open(key, e, at);
      f.shredder.add(e, at, qty!);
      f.rows++;
      if (f.lastWaiter !== h) {
        f.lastWaiter = h;
        f.waiters.push(h);
        h.pending++;
        touched.push(f);
      }
      if (manifest) {
        if (at.us < f.minUs) f.minUs = at.us;
        if (at.us > f.maxUs) f.maxUs = at.us;
        if (f.minId === undefined || e.eventId < f.minId) f.minId = e.eventId;
        if (f.maxId === undefined || e.eventId > f.maxId) f.maxId = e.eventId;
      }
      if (f.shredder.rows >= rowGroupSize) this.#cutRowGroup(f);
      if (f.rows >= rollRows) this.#publish(f, 'rows');
    }
    for (const f of touched) {
      if (this.#files.get(f.key) !== f) continue; // already published
      f.shredder.seal();
      if ((f.encodedBytes + f.shredder.bytes) * this.#ratio >= this.#s.rollBytes) this.#publish(f, 'bytes');
    }
    if (rejects) {
      h.pending++;
      const rs = rejects;
      this.#log.warn({ rejected: rs.length, first: rs[0].reason }, 'parquet: events with non-canonical values sent to the dead-letter store');
      (async () => {
        for (const r of rs) await this.#deadLetter(r);
      })().then(
        () => h.done(),
        (err: Error) => h.fail(err),
      );
    }
    h.done();
    return h.promise;
  }

  #open(key: string | number, e: InventoryEvent, at: Instant): OpenFile {
    if (this.#files.size >= this.#s.maxOpenFiles) {
      const oldest = this.#files.values().next().value!;
      this.#publish(oldest, 'maxOpenFiles');
    }
    const partition: Record<string, string> = {};
    const segs: string[] = [];
    for (const c of this.#s.partitionBy) {
      const v = partitionValue(c, e, at);
      partition[c] = v;
      segs.push(`${c}=${escapePartitionValue(v)}`);
    }
    const f: OpenFile = {
      target: { id: ++this.#ids, dir: segs.join('/'), name: fileName(this.#s.pipeline, ++this.#seq) },
      partition,
      shredder: new EventShredder(this.#s.partitionBy, this.#s.attributes),
      rows: 0,
      encodedBytes: 0,
      waiters: [],
      lastWaiter: undefined,
      timer: undefined,
      minUs: Number.POSITIVE_INFINITY,
      maxUs: Number.NEGATIVE_INFINITY,
      minId: undefined,
      maxId: undefined,
      key,
    };
    if (this.#s.rollSeconds > 0) {
      f.timer = setTimeout(() => {
        if (this.#files.get(key) === f) this.#publish(f, 'age');
      }, this.#s.rollSeconds * 1000);
      f.timer.unref();
    }
    this.#files.set(key, f);
    return f;
  }

  #cutRowGroup(f: OpenFile): void {
    const transfer: ArrayBuffer[] = [];
    f.encodedBytes += f.shredder.bytes;
    const rg = f.shredder.take(transfer);
    f.shredder = new EventShredder(this.#s.partitionBy, this.#s.attributes);
    this.#backend.rowGroup(f.target, rg, transfer);
  }

  #publish(f: OpenFile, why: string): void {
    this.#files.delete(f.key);
    if (f.timer) clearTimeout(f.timer);
    if (f.shredder.rows > 0) this.#cutRowGroup(f);
    const manifest: ManifestInput | undefined = this.#s.manifest
      ? {
          partition: f.partition,
          minOccurredAt: isoMicros(f.minUs),
          maxOccurredAt: isoMicros(f.maxUs),
          minEventId: f.minId,
          maxEventId: f.maxId,
          pipeline: this.#s.pipeline,
          eventSchemaVersion: EVENT_SCHEMA_VERSION,
        }
      : undefined;
    const encoded = f.encodedBytes;
    const p: Promise<void> = this.#backend.publish(f.target, manifest).then(
      (r) => {
        this.#inflight.delete(p);
        this.published.push(r);
        if (encoded > 0) this.#ratio = Math.min(1, Math.max(0.01, r.bytes / encoded));
        this.#log.debug({ file: r.file, rows: r.rows, bytes: r.bytes, why }, 'parquet file published');
        for (const h of f.waiters) h.done();
      },
      (err: unknown) => {
        this.#inflight.delete(p);
        const e = classify(err);
        this.#log.error({ file: `${f.target.dir}/${f.target.name}`, rows: f.rows, err: e.message, transient: e instanceof TransientError }, 'parquet file not published');
        for (const h of f.waiters) h.fail(e);
        throw e;
      },
    );
    p.catch(() => undefined); // reported through the writes and flush()
    this.#inflight.add(p);
  }

  /** Publishes every open file and waits until each publish settled; rejects with the first failure. */
  async flush(): Promise<void> {
    for (const f of [...this.#files.values()]) this.#publish(f, 'flush');
    const all = [...this.#inflight];
    const results = await Promise.allSettled(all);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } finally {
      this.#closed = true;
      await this.#backend.close();
    }
  }

  /** Open files right now (tests, status). */
  get openFiles(): number {
    return this.#files.size;
  }
}

function partitionValue(c: PartitionColumn, e: InventoryEvent, at: Instant): string {
  switch (c) {
    case 'event_date':
      return dayString(at.day);
    case 'event_type':
      return e.eventType;
    case 'location_id':
      return e.locationId;
    case 'location_type':
      return e.locationType ?? '';
    case 'source_system':
      return e.source.system;
  }
}
