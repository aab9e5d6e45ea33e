/**
 * The `sap-posting` sink: canonical events → SAP material documents, exactly once per event id.
 *
 * write(events): map each event through the rules (rules.ts); open its outbox entry (outbox.ts); bring every entry
 * to POSTED, FAILED (dead-lettered) or "already final" (a duplicate, skipped) — directly with `concurrency` postings
 * in parallel (across all batches in flight), or through the BullMQ posting queue (queue.ts). write() resolves only when every event of the batch is
 * final; otherwise it rejects with a TransientError and the engine retries the batch (final entries are skipped, open
 * ones are looked up in SAP before anything is sent again). A configuration problem (logon refused) stops the pipeline.
 */
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import { type Logger, type Sink, type SinkContext, TransientError, type WriteInfo } from '../../runtime/contracts/spi.ts';
import { type Outcome, type PostingOutbox, requestOf, type Work } from './outbox.ts';
import type { Transport } from './posting.ts';
import type { PostingQueue } from './queue.ts';
import type { PostingRules } from './rules.ts';

export interface SinkParts {
  rules: PostingRules;
  transport: Transport;
  outbox: PostingOutbox;
  queue?: PostingQueue;
  concurrency: number;
  retentionDays: number;
  scope: string;
  ctx: SinkContext;
  log: Logger;
}

export class SapPostingSink implements Sink {
  readonly #p: SinkParts;
  /** Event ids being worked on by a write() of this sink (the same id in two batches waits for the first). */
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #pending = new Set<Promise<unknown>>();
  #pruned = 0;
  /** Postings in flight across all writes (the engine may have many batches out at once). */
  #active = 0;
  readonly #slotWaiters: Array<() => void> = [];

  constructor(p: SinkParts) {
    this.#p = p;
  }

  async #withSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#active >= this.#p.concurrency) await new Promise<void>((r) => this.#slotWaiters.push(r));
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      this.#slotWaiters.shift()?.();
    }
  }

  write(events: readonly InventoryEvent[], _info?: WriteInfo): Promise<void> {
    const p = this.#write(events);
    this.#pending.add(p);
    const done = () => this.#pending.delete(p);
    p.then(done, done);
    return p;
  }

  async #write(events: readonly InventoryEvent[]): Promise<void> {
    const { rules, outbox, queue, log } = this.#p;
    const work: Work[] = [];
    const seen = new Set<string>();
    for (const e of events) {
      if (seen.has(e.eventId)) continue; // the same event twice in one batch: one posting
      seen.add(e.eventId);
      const request = requestOf(rules.prepare(e));
      if (request) work.push({ event: e, request });
    }
    if (work.length === 0) return;
    await this.#prune();
    const ids = work.map((w) => w.event.eventId);
    for (;;) {
      const busy = ids.map((id) => this.#inflight.get(id)).filter((x) => x !== undefined);
      if (busy.length === 0) break;
      await Promise.allSettled(busy);
    }
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    for (const id of ids) this.#inflight.set(id, mine);
    try {
      const entries = await outbox.open(work);
      const outcomes: Outcome[] = queue
        ? await queue.run(work, entries)
        : await Promise.all(
            entries.map((entry, i) =>
              entry.state === 'POSTED' || entry.state === 'FAILED'
                ? ({ kind: 'duplicate', state: entry.state } as const)
                : this.#withSlot(() => outbox.process(entry, work[i].event)),
            ),
          );
      let open = 0;
      let firstError = '';
      const counts = { posted: 0, resolved: 0, duplicates: 0, failed: 0 };
      for (const o of outcomes) {
        if (o.kind === 'fatal') throw new Error(`SAP posting cannot continue: ${o.error}`);
        if (o.kind === 'open') {
          open++;
          firstError ||= o.error;
        } else if (o.kind === 'posted') {
          counts.posted++;
          if (o.resolved) counts.resolved++;
        } else if (o.kind === 'duplicate') counts.duplicates++;
        else counts.failed++;
      }
      if (counts.duplicates) log.info({ duplicates: counts.duplicates }, 'events already posted or dead-lettered earlier: skipped');
      log.debug({ ...counts, open }, 'posting batch');
      if (open) throw new TransientError(`${open} of ${work.length} posting(s) not settled yet: ${firstError}`);
    } finally {
      for (const id of ids) if (this.#inflight.get(id) === mine) this.#inflight.delete(id);
      release();
    }
  }

  /** Drops final outbox entries older than retentionDays, at most once an hour. */
  async #prune(): Promise<void> {
    const now = Date.now();
    if (this.#p.retentionDays <= 0 || now - this.#pruned < 3_600_000) return;
    this.#pruned = now;
    const before = new Date(now - this.#p.retentionDays * 86_400_000).toISOString();
    const n = await this.#p.ctx.state.pruneOutbox(this.#p.scope, { before });
    if (n) this.#p.log.info({ entries: n, before }, 'pruned old final outbox entries');
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.#p.queue?.close();
    await this.#p.transport.close();
  }
}
