/**
 * The posting state machine over the state store's outbox (runtime/contracts/spi.ts, OutboxState):
 *
 *   new event ─► PENDING (attempts 0) ─stage, count attempt─► call SAP ─┬─ posted ──────────► POSTED (document, year)
 *                                                                       ├─ business error ──► dead letter, then FAILED
 *                                                                       ├─ not sent ────────► PENDING, attempt not counted
 *                                                                       └─ timeout / lost ──► UNCERTAIN
 *   PENDING with attempts > 0 (a crash mid-call) or UNCERTAIN ─ wait settleMs, look the key up in SAP ─┬─ found ─► POSTED
 *                                                                                                     └─ absent ─► post
 *
 * Every transition is written to the store before the next step, so a crash anywhere leaves an entry that says
 * what may have happened; the key lookup decides before anything is sent twice. POSTED and FAILED are final: the
 * same event coming again is a duplicate and is skipped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import type { DeadLetterInput, Logger, OutboxEntry, StateStore } from '../../runtime/contracts/spi.ts';
import { messagesText, type Posting, type PostResult, type Transport } from './posting.ts';
import type { Prepared } from './rules.ts';

/** What the outbox stores as an entry's request: the posting, or why the event cannot be posted. */
export type OutboxRequest = { posting: Posting } | { reject: string };

export interface Work {
  event: InventoryEvent;
  request: OutboxRequest;
}

export type Outcome =
  | { kind: 'posted'; resolved?: boolean }
  | { kind: 'duplicate'; state: 'POSTED' | 'FAILED' }
  | { kind: 'failed' }
  /** Not final yet (technical problem, uncertain): retry later. */
  | { kind: 'open'; error: string }
  /** Configuration problem (logon refused, service not found): stop. */
  | { kind: 'fatal'; error: string };

export interface OutboxOptions {
  store: StateStore;
  /** Outbox scope: one per sink. */
  scope: string;
  transport: Transport;
  /** Wait at least this long after an uncertain attempt before looking the key up. */
  settleMs: number;
  sink: string;
  log: Logger;
  deadLetter(entry: DeadLetterInput): Promise<void>;
}

export function requestOf(p: Prepared): OutboxRequest | null {
  if (p.kind === 'skip') return null;
  return p.kind === 'post' ? { posting: p.posting } : { reject: p.reason };
}

export function keyOf(r: OutboxRequest): string {
  return 'posting' in r ? r.posting.key : '';
}

export class PostingOutbox {
  readonly o: OutboxOptions;

  constructor(o: OutboxOptions) {
    this.o = o;
  }

  /** Entries for the work items (created PENDING when new), in the same order. */
  open(work: readonly Work[]): Promise<OutboxEntry[]> {
    return this.o.store.openOutbox(
      this.o.scope,
      work.map((w) => ({ id: w.event.eventId, key: keyOf(w.request), request: w.request })),
    );
  }

  /** Brings one entry as far as it can go now. Throws only when the state store fails. */
  async process(entry: OutboxEntry, event: InventoryEvent): Promise<Outcome> {
    const { store, scope, log } = this.o;
    if (entry.state === 'POSTED' || entry.state === 'FAILED') return { kind: 'duplicate', state: entry.state };
    const request = entry.request as OutboxRequest;
    if ('reject' in request) {
      await this.#deadLetter(event, request.reject, undefined);
      await store.updateOutbox(scope, [{ id: entry.id, state: 'FAILED', error: request.reject }]);
      return { kind: 'failed' };
    }
    const p = request.posting;
    if (entry.state === 'UNCERTAIN' || entry.attempts > 0) {
      const wait = this.o.settleMs - (Date.now() - Date.parse(entry.updatedAt));
      if (wait > 0) await sleep(wait);
      let doc: Awaited<ReturnType<Transport['lookup']>>;
      try {
        doc = await this.o.transport.lookup(p);
      } catch (err) {
        return { kind: 'open', error: `cannot look up key ${p.key} in SAP: ${(err as Error).message}` };
      }
      if (doc) {
        await store.updateOutbox(scope, [{ id: entry.id, state: 'POSTED', from: ['PENDING', 'UNCERTAIN'], result: doc }]);
        log.info({ eventId: entry.id, key: p.key, ...doc }, 'uncertain posting resolved: SAP has it (not posted again)');
        return { kind: 'posted', resolved: true };
      }
      log.info({ eventId: entry.id, key: p.key }, 'uncertain posting resolved: SAP does not have it; posting');
    }
    try {
      await this.o.transport.stage?.(p);
    } catch (err) {
      return { kind: 'open', error: `cannot stage the posting: ${(err as Error).message}` };
    }
    // Count the attempt before anything is sent: after a crash, attempts > 0 means "look it up first".
    const moved = await store.updateOutbox(scope, [{ id: entry.id, state: 'PENDING', from: ['PENDING', 'UNCERTAIN'], error: entry.error, attempt: true }]);
    if (moved.length === 0) return { kind: 'open', error: 'outbox entry changed meanwhile' };
    let r: PostResult;
    try {
      r = await this.o.transport.post(p);
    } catch (err) {
      r = { kind: 'uncertain', error: (err as Error).message };
    }
    switch (r.kind) {
      case 'posted': {
        const result = { materialDocument: r.materialDocument, year: r.year, ...(r.file ? { file: r.file, idocNumber: r.idocNumber } : {}) };
        await store.updateOutbox(scope, [{ id: entry.id, state: 'POSTED', result }]);
        log.debug({ eventId: entry.id, key: p.key, ...result }, 'posted');
        return { kind: 'posted' };
      }
      case 'rejected': {
        const text = messagesText(r.messages);
        await this.#deadLetter(event, `SAP rejected the posting: ${text}`, { key: p.key, messages: r.messages, posting: p });
        await store.updateOutbox(scope, [{ id: entry.id, state: 'FAILED', result: { messages: r.messages }, error: text }]);
        log.warn({ eventId: entry.id, key: p.key, sap: text }, 'SAP rejected a posting: dead-lettered');
        return { kind: 'failed' };
      }
      case 'not-sent':
        // certainly not sent: the next attempt needs no lookup
        await store.updateOutbox(scope, [{ id: entry.id, state: 'PENDING', error: r.error, unsent: true }]);
        return r.fatal ? { kind: 'fatal', error: r.error } : { kind: 'open', error: r.error };
      case 'uncertain':
        await store.updateOutbox(scope, [{ id: entry.id, state: 'UNCERTAIN', error: r.error }]);
        log.warn({ eventId: entry.id, key: p.key, err: r.error }, 'posting outcome unknown (timeout or lost session): UNCERTAIN, will look it up in SAP before retrying');
        return { kind: 'open', error: r.error };
    }
  }

  #deadLetter(event: InventoryEvent, reason: string, meta: Record<string, unknown> | undefined): Promise<void> {
    return this.o.deadLetter({
      stage: 'sink',
      reason,
      ref: event.source.recordRef,
      payload: JSON.stringify(event),
      meta: { sink: this.o.sink, eventId: event.eventId, ...(meta ?? {}) },
      error: { stage: 'sink', reason },
    });
  }
}
