/**
 * The AMQP 1.0 transport of the ibm-mq source (IBM MQ serves AMQP channels; any AMQP 1.0 broker works): a rhea
 * receiver with manual settlement. A delivery is accepted only when the engine committed its batch, i.e. after
 * every sink acknowledged; when the pipeline fails, unsettled deliveries are settled `released` (or `modified` with
 * delivery-failed, `amqp.failedOutcome`, so that brokers supporting it count the attempt) and the broker redelivers
 * them. If the connection drops, the broker
 * redelivers whatever was unsettled; the source reconnects with backoff.
 *
 * Credit is bounded (`prefetch`, default the batch size × 2): unsettled deliveries never exceed it, so memory stays
 * flat whatever the queue depth. Poison messages: a delivery whose delivery-count reached `backout.threshold` is
 * sent to `backout.queue` (accepted there before the original is accepted) or stored in the dead-letter store.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import rhea, { type Connection, type Delivery, type EventContext, type Message, type Receiver } from 'rhea';
import type { Logger, Source, SourceBatch, SourceContext, SourceRecord } from '../../runtime/contracts/spi.ts';

export interface AmqpOptions {
  url: string;
  address: string;
  user?: string;
  password?: string;
  batchSize?: number;
  prefetch?: number;
  waitInterval: number;
  backout: { threshold?: number; queue?: string };
  reconnect: { initialDelayMs: number; maxDelayMs: number; maxAttempts: number };
  tls?: { ca?: string; rejectUnauthorized?: boolean };
  containerId?: string;
  /** Outcome that hands a delivery back on failure: released, or modified with delivery-failed (counts a delivery). */
  failedOutcome?: 'released' | 'modified';
}

export interface AmqpPosition {
  gen: number;
  deliveries: Delivery[];
}

interface Pending {
  message: Message;
  delivery: Delivery;
}

function bodyBytes(m: Message): Uint8Array | string {
  const b = m.body as unknown;
  if (Buffer.isBuffer(b) || b instanceof Uint8Array) return b;
  if (typeof b === 'string') return b;
  if (b && typeof b === 'object' && 'typecode' in b) {
    const c = (b as unknown as { content: unknown }).content;
    if (Buffer.isBuffer(c)) return c;
    if (Array.isArray(c)) return Buffer.concat(c.filter((x) => Buffer.isBuffer(x)) as Buffer[]);
    if (typeof c === 'string') return c;
    return JSON.stringify(c);
  }
  if (b === undefined || b === null) return Buffer.alloc(0);
  return JSON.stringify(b);
}

function idText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Buffer.isBuffer(v)) return v.toString('hex');
  return String(v);
}

export class AmqpSource implements Source<AmqpPosition> {
  readonly #o: AmqpOptions;
  readonly #ctx: SourceContext;
  readonly #log: Logger;
  #conn: Connection | undefined;
  #receiver: Receiver | undefined;
  #gen = 0;
  #queue: Pending[] = [];
  #wake: (() => void) | undefined;
  #lost: Error | undefined;
  #closed = false;
  readonly counters = { messages: 0, accepted: 0, redelivered: 0, movedToBackoutQueue: 0, deadLettered: 0, reconnects: 0 };

  constructor(o: AmqpOptions, ctx: SourceContext) {
    this.#o = o;
    this.#ctx = ctx;
    this.#log = ctx.log;
  }

  get #prefetch(): number {
    return this.#o.prefetch ?? (this.#o.batchSize ?? this.#ctx.batchSize) * 2;
  }

  #connectOnce(): Promise<void> {
    const u = new URL(this.#o.url);
    const tls = u.protocol === 'amqps:';
    const container = rhea.create_container({ id: this.#o.containerId ?? `stockbridge-${this.#ctx.pipeline}` });
    const gen = ++this.#gen;
    this.#lost = undefined;
    this.#queue = [];
    return new Promise((resolve, reject) => {
      let opened = false;
      const conn = container.connect({
        host: u.hostname,
        port: Number(u.port || (tls ? 5671 : 5672)),
        transport: tls ? 'tls' : 'tcp',
        username: this.#o.user ?? (u.username ? decodeURIComponent(u.username) : undefined),
        password: this.#o.password ?? (u.password ? decodeURIComponent(u.password) : undefined),
        reconnect: false,
        hostname: u.hostname,
        idle_time_out: 30_000,
        ...(tls ? { ca: this.#o.tls?.ca, rejectUnauthorized: this.#o.tls?.rejectUnauthorized ?? true } : {}),
      } as never);
      const fail = (why: string) => {
        if (!opened) reject(new Error(why));
        else if (gen === this.#gen && !this.#lost) {
          this.#lost = new Error(why);
          this.#wake?.();
        }
      };
      conn.on('disconnected', (ctx: EventContext) => fail(`disconnected: ${(ctx.error as Error | undefined)?.message ?? 'connection closed'}`));
      conn.on('connection_error', (ctx: EventContext) => fail(`connection error: ${JSON.stringify(ctx.connection.error ?? '')}`));
      conn.on('receiver_error', (ctx: EventContext) => fail(`receiver error: ${JSON.stringify(ctx.receiver?.error ?? '')}`));
      conn.on('error', (err: Error) => fail(`error: ${err.message}`));
      conn.on('session_error', (ctx: EventContext) => fail(`session error: ${JSON.stringify(ctx.session?.error ?? '')}`));
      container.on('error', (err: Error) => fail(`error: ${err?.message ?? String(err)}`));
      const receiver = conn.open_receiver({ source: { address: this.#o.address }, autoaccept: false, credit_window: 0 });
      receiver.on('receiver_open', () => {
        opened = true;
        this.#conn = conn;
        this.#receiver = receiver;
        receiver.add_credit(this.#prefetch);
        resolve();
      });
      receiver.on('message', (ctx: EventContext) => {
        if (gen !== this.#gen) return;
        this.#queue.push({ message: ctx.message!, delivery: ctx.delivery! });
        this.#wake?.();
      });
    });
  }

  async #connect(): Promise<boolean> {
    const r = this.#o.reconnect;
    let delay = r.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      if (this.#ctx.signal.aborted || this.#closed) return false;
      try {
        await this.#connectOnce();
        if (this.#gen > 1) this.counters.reconnects++;
        this.#log.info({ url: this.#redacted(), address: this.#o.address, attempts: attempt }, 'AMQP receiver attached');
        return true;
      } catch (err) {
        this.#teardown();
        if (r.maxAttempts && attempt >= r.maxAttempts) throw new Error(`ibm-mq (amqp): ${this.#redacted()} still unreachable after ${attempt} attempts: ${(err as Error).message}`);
        if (this.#ctx.once && attempt >= 3) throw new Error(`ibm-mq (amqp): ${this.#redacted()} unreachable: ${(err as Error).message}`);
        if (attempt === 1 || attempt % 10 === 0) this.#log.warn({ attempt, retryInMs: delay, err: (err as Error).message }, 'AMQP broker not reachable; retrying');
        await sleep(delay * (0.8 + Math.random() * 0.4), undefined, { signal: this.#ctx.signal }).catch(() => undefined);
        delay = Math.min(delay * 2, r.maxDelayMs);
      }
    }
  }

  #redacted(): string {
    const u = new URL(this.#o.url);
    u.password = '';
    return u.toString();
  }

  #teardown(): void {
    const c = this.#conn;
    this.#conn = undefined;
    this.#receiver = undefined;
    try {
      c?.close();
    } catch {
      // already gone
    }
  }

  /** Wait until a message arrives, the connection is lost, the timeout passes or the pipeline stops. */
  #waitForMessages(ms: number): Promise<void> {
    if (this.#queue.length || this.#lost) return Promise.resolve();
    return new Promise((res) => {
      const done = () => {
        clearTimeout(t);
        this.#ctx.signal.removeEventListener('abort', done);
        this.#wake = undefined;
        res();
      };
      const t = setTimeout(done, ms);
      this.#ctx.signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  #record(m: Message, d: Delivery): SourceRecord {
    const created = m.creation_time instanceof Date ? m.creation_time.toISOString() : undefined;
    const ref = idText(m.message_id) || `${this.#o.address}#${this.#gen}.${String(d.id)}`;
    const meta = Object.freeze({
      MsgId: idText(m.message_id),
      CorrelId: idText(m.correlation_id),
      BackoutCount: m.delivery_count ?? 0,
      putTimestamp: created,
      Format: m.content_type ?? '',
      subject: m.subject,
      properties: m.application_properties ? { ...m.application_properties } : {},
      queue: this.#o.address,
      transport: 'amqp',
    });
    return { ref, payload: bodyBytes(m), meta };
  }

  async #moveAside(p: Pending): Promise<void> {
    const m = p.message;
    const rec = this.#record(m, p.delivery);
    const threshold = this.#o.backout.threshold ?? 0;
    if (this.#o.backout.queue) {
      const conn = this.#conn!;
      await new Promise<void>((resolve, reject) => {
        const sender = conn.open_sender({ target: { address: this.#o.backout.queue } });
        sender.once('sendable', () => {
          const d = sender.send({ ...m, delivery_count: undefined } as Message);
          sender.on('accepted', (ctx: EventContext) => {
            if (ctx.delivery === d) {
              sender.close();
              resolve();
            }
          });
          sender.on('rejected', (ctx: EventContext) => {
            if (ctx.delivery === d) reject(new Error(`the broker rejected the message on ${this.#o.backout.queue}`));
          });
        });
        sender.once('sender_error', (ctx: EventContext) => reject(new Error(`cannot send to ${this.#o.backout.queue}: ${JSON.stringify(ctx.sender?.error ?? '')}`)));
      });
      this.counters.movedToBackoutQueue++;
      this.#log.warn({ msgId: rec.ref, deliveryCount: m.delivery_count, threshold, backoutQueue: this.#o.backout.queue }, 'poison message moved to the backout queue');
    } else {
      await this.#ctx.deadLetter({
        stage: 'source',
        reason: `poison message: delivered ${m.delivery_count ?? 0} times before (backout threshold ${threshold}) and no backout queue is configured`,
        ref: rec.ref,
        payload: rec.payload,
        meta: { ...rec.meta },
      });
      this.counters.deadLettered++;
    }
    p.delivery.accept();
    this.#receiver?.add_credit(1);
  }

  async *batches(): AsyncGenerator<SourceBatch<AmqpPosition>> {
    const max = this.#o.batchSize ?? this.#ctx.batchSize;
    const threshold = this.#o.backout.threshold ?? 0;
    const { signal, once } = this.#ctx;
    while (!signal.aborted && !this.#closed) {
      if (!this.#conn) {
        if (!(await this.#connect())) return;
      }
      await this.#waitForMessages(this.#o.waitInterval);
      if (this.#lost) {
        this.#log.warn({ err: this.#lost.message, unsettled: this.#queue.length }, 'AMQP connection lost; unsettled messages will be redelivered; reconnecting');
        this.#teardown();
        continue;
      }
      if (!this.#queue.length) {
        if (once) return;
        continue;
      }
      const gen = this.#gen;
      const taken = this.#queue.splice(0, max);
      const records: SourceRecord[] = [];
      const deliveries: Delivery[] = [];
      for (const p of taken) {
        if (threshold > 0 && (p.message.delivery_count ?? 0) >= threshold) {
          await this.#moveAside(p);
          continue;
        }
        records.push(this.#record(p.message, p.delivery));
        deliveries.push(p.delivery);
      }
      if (!records.length) continue;
      this.counters.messages += records.length;
      yield { records, position: { gen, deliveries }, unit: this.#o.address };
    }
  }

  async commit(positions: AmqpPosition[]): Promise<void> {
    let stale = 0;
    let n = 0;
    for (const p of positions) {
      if (p.gen !== this.#gen || !this.#conn) {
        stale += p.deliveries.length;
        continue;
      }
      for (const d of p.deliveries) d.accept();
      n += p.deliveries.length;
    }
    if (n) {
      this.counters.accepted += n;
      this.#receiver?.add_credit(n);
    }
    if (stale)
      this.#log.warn({ messages: stale }, 'the AMQP connection these messages came on is gone: the broker redelivers them (duplicates downstream carry the same event ids)');
  }

  async rollback(positions: AmqpPosition[], error: Error): Promise<void> {
    let n = 0;
    for (const p of positions) {
      if (p.gen !== this.#gen || !this.#conn) continue;
      for (const d of p.deliveries) {
        if (this.#o.failedOutcome === 'modified') d.modified({ delivery_failed: true, undeliverable_here: false });
        else d.release();
      }
      n += p.deliveries.length;
    }
    // Messages received but not yet handed to the pipeline go back untouched.
    for (const q of this.#queue.splice(0)) q.delivery.release();
    this.counters.redelivered += n;
    if (n) this.#log.warn({ messages: n, outcome: this.#o.failedOutcome ?? 'released', err: error.message }, 'AMQP: deliveries handed back: the broker will redeliver them');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const q of this.#queue.splice(0)) q.delivery.release();
    const c = this.#conn;
    this.#conn = undefined;
    this.#receiver = undefined;
    if (!c) return;
    await new Promise<void>((res) => {
      const t = setTimeout(res, 2000);
      c.once('connection_close', () => {
        clearTimeout(t);
        res();
      });
      c.once('disconnected', () => {
        clearTimeout(t);
        res();
      });
      try {
        c.close();
      } catch {
        clearTimeout(t);
        res();
      }
    });
  }
}
