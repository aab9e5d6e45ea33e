/**
 * The engine: moves batches source → decode → mapping → processors → sinks, and commits source positions
 * only once every event and reject derived from them is durable, in source order.
 *
 *   read batch ─► decode+map (sync) ─► processors ─► sinks.write() ┐
 *                       └──────────► rejects → dead-letter store ──┴─► ack ─► commit contiguous acked prefix
 *
 * Backpressure: at most `maxPendingBatches` batches may be handed to sinks without being committed; at the
 * bound the engine flushes buffering sinks and waits, so memory stays flat and a sink that is down stops the
 * reading (data waits safely at the source). Transient sink errors are retried with exponential backoff.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { InventoryEvent } from '../contracts/event.ts';
import { FILTERED, MAPPED, type CompiledMapping, type MapContext } from '../contracts/mapping.ts';
import {
  TransientError,
  type DeadLetterInput,
  type Logger,
  type Processor,
  type RecordError,
  type Sink,
  type Source,
  type SourceBatch,
  type SourceRecord,
  type StateStore,
  type UnitCounts,
} from '../contracts/spi.ts';
import { metrics } from '../observability/metrics.ts';
import type { DeliveryConfig } from '../config/pipeline.ts';

export interface NamedSink {
  name: string;
  sink: Sink;
}

export interface EngineParts {
  pipeline: string;
  /** Connector type of the source (lineage). */
  connector: string;
  source: Source;
  mapping: CompiledMapping;
  processors: Processor[];
  sinks: NamedSink[];
  state: StateStore;
  delivery: DeliveryConfig;
  log: Logger;
  /** Aborted on stop; the same signal is given to the source (SourceContext.signal). */
  stopController?: AbortController;
}

export type { UnitCounts };

export interface RunSummary extends UnitCounts {
  pipeline: string;
  status: 'ok' | 'stopped' | 'failed';
  batches: number;
  durationMs: number;
  error?: string;
  units?: Record<string, UnitCounts>;
}

interface Pending {
  position: unknown;
  done: boolean;
  records: number;
  events: number;
  unit?: string;
  startedAt: number;
  ack: Promise<void>;
}

const zero = (): UnitCounts => ({ recordsIn: 0, recordsMapped: 0, recordsFiltered: 0, recordsRejected: 0, eventsOut: 0 });

export class Engine {
  readonly #p: EngineParts;
  readonly #counts = zero();
  readonly #units = new Map<string, UnitCounts>();
  readonly #pending: Pending[] = [];
  #batches = 0;
  #committing = false;
  #flushing: Promise<void> | undefined;
  #fatal: Error | undefined;
  /** Set when shutdown gave up waiting: retry loops end instead of holding the process. */
  #abandoned = false;
  #commitWaiters: Array<() => void> = [];
  readonly #stop: AbortController;
  readonly #labels: { pipeline: string };

  constructor(parts: EngineParts) {
    this.#p = parts;
    this.#stop = parts.stopController ?? new AbortController();
    this.#labels = { pipeline: parts.pipeline };
  }

  /** Live counters (for the progress line and status). */
  counts(): Readonly<UnitCounts> {
    return this.#counts;
  }

  /** Counts of one accounting unit (a file) so far. */
  unitCounts(unit: string): Readonly<UnitCounts> | undefined {
    return this.#units.get(unit);
  }

  /** Stop reading; in-flight batches are drained and committed (graceful shutdown). */
  stop(): void {
    this.#stop.abort();
    this.#wakeCommitWaiters();
  }

  get stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  async run(): Promise<RunSummary> {
    const t0 = performance.now();
    const { source, delivery, log } = this.#p;
    let status: RunSummary['status'] = 'ok';
    const iterator = source.batches()[Symbol.asyncIterator]();
    let turn = performance.now();
    try {
      for (;;) {
        if (this.#fatal || this.stopping) break;
        // A source that always has data ready keeps everything in microtasks; let timers, signals and the
        // metrics server run every few milliseconds.
        if (performance.now() - turn > 10) {
          await new Promise((r) => setImmediate(r));
          turn = performance.now();
        }
        const next = await this.#nextBatch(iterator);
        if (next === 'stopped' || next.done) break;
        this.#process(next.value);
        if (next.value.commitBarrier) void this.#flushSinks('commit barrier');
        while (this.#pending.length >= delivery.maxPendingBatches && !this.#fatal && !this.stopping) {
          void this.#flushSinks('pending bound');
          await this.#commitProgress();
        }
      }
    } catch (err) {
      this.#fatal ??= err as Error;
    }
    if (this.stopping && !this.#fatal) status = 'stopped';
    await iterator.return?.(undefined).catch(() => undefined);
    await this.#drain();
    if (this.#fatal) {
      status = 'failed';
      const uncommitted = this.#pending.map((p) => p.position);
      if (uncommitted.length && source.rollback) await source.rollback(uncommitted, this.#fatal).catch(() => undefined);
      log.error({ err: this.#fatal.message, uncommittedBatches: uncommitted.length }, 'pipeline failed; nothing committed past the failure');
    }
    const summary: RunSummary = {
      pipeline: this.#p.pipeline,
      status,
      ...this.#counts,
      batches: this.#batches,
      durationMs: Math.round(performance.now() - t0),
    };
    if (this.#fatal) summary.error = this.#fatal.message;
    if (this.#units.size) summary.units = Object.fromEntries(this.#units);
    return summary;
  }

  /**
   * Next batch, flushing buffering sinks when the source stays idle, and giving up on stop. Written without
   * Promise.race on a long-lived promise: that would keep every batch reachable from the stop listener.
   */
  #nextBatch(it: AsyncIterator<SourceBatch>): Promise<IteratorResult<SourceBatch> | 'stopped'> {
    const signal = this.#stop.signal;
    if (signal.aborted) return Promise.resolve('stopped');
    return new Promise((resolve, reject) => {
      const idle = setTimeout(() => {
        if (this.#pending.some((p) => !p.done)) void this.#flushSinks('idle');
      }, this.#p.delivery.flushIdleMs);
      const cleanup = () => {
        clearTimeout(idle);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        cleanup();
        resolve('stopped');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      it.next().then(
        (r) => {
          cleanup();
          resolve(r);
        },
        (err) => {
          cleanup();
          reject(err);
        },
      );
    });
  }

  #process(batch: SourceBatch): void {
    const { mapping, connector, pipeline } = this.#p;
    this.#batches++;
    const startedAt = performance.now();
    const ctx: MapContext = { receivedAt: new Date().toISOString(), connector };
    const events: InventoryEvent[] = [];
    const rejects: DeadLetterInput[] = [];
    let recordsIn = 0;
    let mapped = 0;
    let filtered = 0;
    const reject = (rec: SourceRecord, error: RecordError, payload = rec.payload) => {
      rejects.push({ stage: error.stage, reason: error.reason, ref: rec.ref, payload, meta: rec.meta as Record<string, unknown>, error });
    };
    const mapOne = (rec: SourceRecord, value: unknown) => {
      recordsIn++;
      let outcome: ReturnType<CompiledMapping['map']>;
      try {
        outcome = mapping.map(rec, value, events, ctx);
      } catch (err) {
        outcome = { stage: 'map', reason: `mapping failed unexpectedly: ${(err as Error).message}` };
      }
      if (outcome === MAPPED) mapped++;
      else if (outcome === FILTERED) filtered++;
      else reject(rec, outcome);
    };
    for (const rec of batch.records) {
      if (rec.error) {
        recordsIn++;
        reject(rec, rec.error);
      } else if (rec.value !== undefined) mapOne(rec, rec.value);
      else if (rec.payload !== undefined) {
        const decoded = mapping.format.decodeMessage(rec.payload, rec.ref);
        if (decoded.length === 0) {
          recordsIn++;
          reject(rec, { stage: 'decode', reason: 'message holds no record' });
        }
        for (let i = 0; i < decoded.length; i++) {
          const d = decoded[i];
          const sub: SourceRecord = decoded.length === 1 ? rec : { ...rec, ref: `${rec.ref}#${i + 1}`, payload: d.raw };
          if (d.error) {
            recordsIn++;
            reject(sub, d.error, d.raw);
          } else mapOne(sub, d.value);
        }
      } else {
        recordsIn++;
        reject(rec, { stage: 'source', reason: 'record has neither a value nor a payload' });
      }
    }
    const rejected = rejects.length;
    this.#count(batch.unit, { recordsIn, recordsMapped: mapped, recordsFiltered: filtered, recordsRejected: rejected, eventsOut: 0 });
    metrics.recordsIn.inc(this.#labels, recordsIn);
    if (mapped) metrics.recordsMapped.inc(this.#labels, mapped);
    if (filtered) metrics.recordsFiltered.inc(this.#labels, filtered);
    for (const r of rejects) metrics.recordsRejected.inc({ pipeline, stage: r.stage });

    const pending: Pending = {
      position: batch.position,
      done: false,
      records: batch.records.length,
      events: 0,
      unit: batch.unit,
      startedAt,
      ack: Promise.resolve(),
    };
    pending.ack = this.#deliver(events, rejects, batch.unit, pending).then(
      () => {
        pending.done = true;
        void this.#commitAcked();
      },
      (err: Error) => {
        this.#fatal ??= err;
        this.#stop.abort();
        this.#wakeCommitWaiters();
      },
    );
    this.#pending.push(pending);
    metrics.pendingBatches.set(this.#labels, this.#pending.length);
  }

  async #deliver(events: InventoryEvent[], rejects: DeadLetterInput[], unit: string | undefined, pending: Pending): Promise<void> {
    for (const p of this.#p.processors) events = await p.process(events);
    pending.events = events.length;
    const work: Promise<void>[] = [];
    if (events.length) for (const s of this.#p.sinks) work.push(this.#writeWithRetry(s, events, unit));
    if (rejects.length) work.push(this.#p.state.addDeadLetters(rejects));
    if (work.length === 1) await work[0];
    else if (work.length) await Promise.all(work);
    this.#count(unit, { recordsIn: 0, recordsMapped: 0, recordsFiltered: 0, recordsRejected: 0, eventsOut: events.length });
    if (events.length) metrics.eventsOut.inc(this.#labels, events.length);
  }

  async #writeWithRetry(s: NamedSink, events: InventoryEvent[], unit: string | undefined): Promise<void> {
    const { retry } = this.#p.delivery;
    let delay = retry.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await s.sink.write(events, { unit });
        if (attempt > 1) {
          this.#p.log.info({ sink: s.name, attempts: attempt }, 'sink recovered');
          metrics.sinkUp.set({ pipeline: this.#p.pipeline, sink: s.name }, 1);
        }
        return;
      } catch (err) {
        const transient = err instanceof TransientError || (err as Error)?.name === 'TransientError';
        metrics.sinkErrors.inc({ pipeline: this.#p.pipeline, sink: s.name, kind: transient ? 'transient' : 'fatal' });
        if (!transient) throw new Error(`sink '${s.name}' failed: ${(err as Error).message}`, { cause: err });
        metrics.sinkUp.set({ pipeline: this.#p.pipeline, sink: s.name }, 0);
        if (retry.maxAttempts && attempt >= retry.maxAttempts)
          throw new Error(`sink '${s.name}' still failing after ${attempt} attempts: ${(err as Error).message}`, { cause: err });
        if (this.#fatal) throw this.#fatal;
        if (this.#abandoned) throw new Error(`sink '${s.name}' abandoned at shutdown: ${(err as Error).message}`);
        if (attempt === 1 || attempt % 10 === 0)
          this.#p.log.warn({ sink: s.name, attempt, retryInMs: delay, err: (err as Error).message }, 'sink write failed; retrying, nothing is committed meanwhile');
        await sleep(delay * (0.8 + Math.random() * 0.4));
        delay = Math.min(delay * 2, retry.maxDelayMs);
      }
    }
  }

  #count(unit: string | undefined, c: UnitCounts): void {
    const targets = [this.#counts];
    if (unit !== undefined) {
      let u = this.#units.get(unit);
      if (!u) this.#units.set(unit, (u = zero()));
      targets.push(u);
    }
    for (const t of targets) {
      t.recordsIn += c.recordsIn;
      t.recordsMapped += c.recordsMapped;
      t.recordsFiltered += c.recordsFiltered;
      t.recordsRejected += c.recordsRejected;
      t.eventsOut += c.eventsOut;
    }
  }

  /** Commits the contiguous acknowledged prefix, oldest first; never two commits at once. */
  async #commitAcked(): Promise<void> {
    if (this.#committing) return;
    this.#committing = true;
    try {
      while (this.#pending.length && this.#pending[0].done && !this.#fatal) {
        let n = 0;
        while (n < this.#pending.length && this.#pending[n].done) n++;
        const run = this.#pending.slice(0, n);
        await this.#p.source.commit(run.map((p) => p.position));
        this.#pending.splice(0, n);
        const now = performance.now();
        for (const p of run) metrics.batchLatency.observe(this.#labels, (now - p.startedAt) / 1000);
        metrics.lastCommit.set(this.#labels, Date.now() / 1000);
        metrics.pendingBatches.set(this.#labels, this.#pending.length);
        this.#wakeCommitWaiters();
      }
    } catch (err) {
      this.#fatal ??= new Error(`source commit failed: ${(err as Error).message}`, { cause: err });
      this.#stop.abort();
      this.#wakeCommitWaiters();
    } finally {
      this.#committing = false;
    }
  }

  #wakeCommitWaiters(): void {
    const w = this.#commitWaiters;
    this.#commitWaiters = [];
    for (const f of w) f();
  }

  #commitProgress(): Promise<void> {
    return new Promise((resolve) => this.#commitWaiters.push(resolve));
  }

  #flushSinks(why: string): Promise<void> {
    if (this.#flushing) return this.#flushing;
    this.#p.log.debug({ why }, 'flushing sinks');
    this.#flushing = Promise.all(
      this.#p.sinks.map((s) =>
        s.sink.flush().catch((err: Error) => this.#p.log.warn({ sink: s.name, err: err.message }, 'sink flush failed')),
      ),
    ).then(
      () => {
        this.#flushing = undefined;
      },
      () => {
        this.#flushing = undefined;
      },
    );
    return this.#flushing;
  }

  /** Flush and wait for every pending batch to be acknowledged and committed (bounded by shutdownTimeoutMs on stop). */
  async #drain(): Promise<void> {
    const deadline = this.stopping ? performance.now() + this.#p.delivery.shutdownTimeoutMs : Number.POSITIVE_INFINITY;
    while (this.#pending.length && !this.#fatal) {
      if (performance.now() > deadline) {
        this.#p.log.warn({ uncommittedBatches: this.#pending.length }, 'shutdown timeout: leaving the rest uncommitted at the source');
        this.#abandoned = true;
        return;
      }
      await this.#flushSinks('drain');
      if (this.#pending.length && this.#pending[0].done && !this.#committing) await this.#commitAcked();
      else if (this.#pending.length) {
        const wait = this.#commitProgress();
        const timer = sleep(Math.min(this.#p.delivery.flushIdleMs, 1000));
        await Promise.race([wait, timer]);
      }
    }
  }
}
