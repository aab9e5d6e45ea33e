/**
 * IBM MQ source over the MQI (`ibmmq`): MQGET under syncpoint in batches, MQCMIT only after the engine says every
 * sink (and the dead-letter store) acknowledged the batch, MQBACK when the pipeline fails.
 *
 * MQCMIT commits every get on the connection, so each batch is a commit barrier: after yielding a batch the source
 * gets nothing more until commit() (or a stop). Poison messages are handled here because the queue manager does not
 * do it for non-JMS clients: BOTHRESH / BOQNAME are inquired at open, and a message whose BackoutCount reached the
 * threshold is Put1 to the backout queue under the same syncpoint (or stored in the dead-letter store when the
 * queue has none) instead of being handed to the pipeline.
 *
 * Gets never block the event loop: MQGMO_NO_WAIT, and an asynchronous pause of `waitInterval` when the queue is
 * empty (the ibmmq package's own asynchronous Get polls the same way).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, Source, SourceBatch, SourceContext, SourceRecord } from '../../runtime/contracts/spi.ts';
import { type MqErrorLike, type MqiModule, type MqMd, QUIESCING_REASONS, RECONNECT_REASONS, reasonOf } from './mqi.ts';

export interface MqiOptions {
  queueManager: string;
  queue: string;
  channel?: string;
  connectionName?: string;
  ccdt?: string;
  tls?: { cipherSpec: string; keyRepository?: string; certificateLabel?: string };
  user?: string;
  password?: string;
  applName?: string;
  batchSize?: number;
  waitInterval: number;
  bufferBytes: number;
  maxMessageBytes: number;
  convert: 'auto' | 'always' | 'never';
  /** Reject binary records whose MQMD CodedCharSetId names another code page than the format decodes. */
  ccsidCheck?: boolean;
  backout: { threshold?: number; queue?: string };
  reconnect: { initialDelayMs: number; maxDelayMs: number; maxAttempts: number };
}

export interface MqPosition {
  /** Connection generation the gets were made on: a commit on a newer connection cannot cover them. */
  gen: number;
  messages: number;
  moved: number;
}

interface Conn {
  hconn: unknown;
  hobj: unknown;
  gen: number;
  threshold: number;
  boq: string;
}

class Fatal extends Error {}

/** Single-byte code pages the copybook format knows: a mismatch with one of them is certain, others are not judged. */
const KNOWN_CCSIDS = new Set([37, 500, 1047, 1140, 819]);

export function hex(b: Buffer | undefined): string {
  return b ? b.toString('hex') : '';
}

/** PutDate YYYYMMDD + PutTime HHMMSSTH (GMT) → ISO-8601, or undefined when they do not parse. */
export function putTimestamp(date: string, time: string): string | undefined {
  const d = date?.trim();
  const t = time?.trim();
  if (!/^\d{8}$/.test(d ?? '') || !/^\d{6,8}$/.test(t ?? '')) return undefined;
  const hs = t.length === 8 ? t.slice(6, 8) : '00';
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${t.slice(0, 2)}:${t.slice(2, 4)}:${t.slice(4, 6)}.${hs}0Z`;
}

export class MqiSource implements Source<MqPosition> {
  readonly #mq: MqiModule;
  readonly #o: MqiOptions;
  readonly #ctx: SourceContext;
  readonly #log: Logger;
  readonly #C: Record<string, number | string>;
  #conn: Conn | undefined;
  #gen = 0;
  #buf: Buffer;
  /** Gets (and backout-queue puts) made under syncpoint and not yet committed or backed out. */
  #inFlight = 0;
  #waitCommit: { resolve: () => void; promise: Promise<void> } | undefined;
  #closed = false;
  readonly counters = { messages: 0, commits: 0, backouts: 0, movedToBackoutQueue: 0, deadLettered: 0, reconnects: 0, truncatedRetries: 0 };

  constructor(mq: MqiModule, o: MqiOptions, ctx: SourceContext) {
    this.#mq = mq;
    this.#o = o;
    this.#ctx = ctx;
    this.#log = ctx.log;
    this.#C = mq.MQC;
    this.#buf = Buffer.alloc(o.bufferBytes);
  }

  #n(name: string): number {
    const v = this.#C[name];
    if (typeof v !== 'number') throw new Error(`ibmmq constant ${name} missing`);
    return v;
  }

  // ---- connection ----------------------------------------------------------------------------------------------

  async #connectOnce(): Promise<Conn> {
    const mq = this.#mq;
    const o = this.#o;
    const cno = new mq.MQCNO();
    if (o.channel || o.connectionName || o.ccdt) cno.Options = this.#n('MQCNO_CLIENT_BINDING');
    if (o.ccdt) cno.CCDTUrl = /^[a-z]+:\/\//.test(o.ccdt) ? o.ccdt : `file://${o.ccdt}`;
    else if (o.channel || o.connectionName) {
      const cd = new mq.MQCD();
      cd.ChannelName = o.channel ?? 'SYSTEM.DEF.SVRCONN';
      if (o.connectionName) cd.ConnectionName = o.connectionName;
      if (o.tls) cd.SSLCipherSpec = o.tls.cipherSpec;
      cno.ClientConn = cd;
    }
    if (o.tls?.keyRepository || o.tls?.certificateLabel) {
      const sco = new mq.MQSCO();
      if (o.tls.keyRepository) sco.KeyRepository = o.tls.keyRepository;
      if (o.tls.certificateLabel) sco.CertificateLabel = o.tls.certificateLabel;
      cno.SSLConfig = sco;
    }
    if (o.user) {
      const csp = new mq.MQCSP();
      csp.AuthenticationType = this.#n('MQCSP_AUTH_USER_ID_AND_PWD');
      csp.UserId = o.user;
      csp.Password = o.password ?? '';
      cno.SecurityParms = csp;
    }
    if (o.applName) cno.ApplName = o.applName;
    const hconn = await mq.ConnxPromise(o.queueManager, cno);
    try {
      const od = new mq.MQOD();
      od.ObjectName = o.queue;
      const hobj = await mq.OpenPromise(hconn, od, this.#n('MQOO_INPUT_AS_Q_DEF') | this.#n('MQOO_INQUIRE') | this.#n('MQOO_FAIL_IF_QUIESCING'));
      const sel = [new mq.MQAttr(this.#n('MQIA_BACKOUT_THRESHOLD')), new mq.MQAttr(this.#n('MQCA_BACKOUT_REQ_Q_NAME'))];
      await new Promise<void>((res, rej) => mq.Inq(hobj, sel, (err) => (err ? rej(err) : res())));
      const threshold = o.backout.threshold ?? Number(sel[0].value ?? 0);
      const boq = (o.backout.queue ?? String(sel[1].value ?? '')).trim();
      return { hconn, hobj, gen: ++this.#gen, threshold, boq };
    } catch (err) {
      await mq.DiscPromise(hconn).catch(() => undefined);
      throw err;
    }
  }

  /** Connect, retrying with exponential backoff on 2009/2059/2538 and quiescing; other reasons are fatal. */
  async #connect(): Promise<Conn | undefined> {
    const r = this.#o.reconnect;
    let delay = r.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      if (this.#ctx.signal.aborted || this.#closed) return undefined;
      try {
        const c = await this.#connectOnce();
        if (attempt > 1 || c.gen > 1) {
          this.counters.reconnects++;
          this.#log.info({ queueManager: this.#o.queueManager, queue: this.#o.queue, attempts: attempt }, 'connected to the queue manager again');
        } else
          this.#log.info(
            { queueManager: this.#o.queueManager, queue: this.#o.queue, backoutThreshold: c.threshold, backoutQueue: c.boq || null },
            'connected to the queue manager',
          );
        if (c.threshold > 0 && !c.boq)
          this.#log.warn({ queue: this.#o.queue }, 'the queue has a backout threshold but no backout queue: poison messages go to the dead-letter store');
        this.#conn = c;
        return c;
      } catch (err) {
        const rc = reasonOf(err);
        if (rc === undefined || !RECONNECT_REASONS.has(rc)) throw new Fatal(`ibm-mq: cannot connect to ${this.#o.queueManager} / open ${this.#o.queue}: ${(err as Error).message}`, { cause: err });
        if (r.maxAttempts && attempt >= r.maxAttempts)
          throw new Fatal(`ibm-mq: queue manager ${this.#o.queueManager} still unavailable after ${attempt} attempts: ${(err as Error).message}`, { cause: err });
        if (this.#ctx.once && attempt >= 3) throw new Fatal(`ibm-mq: queue manager unavailable (--once gives up after 3 attempts): ${(err as Error).message}`);
        if (attempt === 1 || attempt % 10 === 0)
          this.#log.warn({ reason: rc, attempt, retryInMs: delay, err: (err as Error).message }, 'queue manager not reachable; retrying');
        await this.#pause(delay * (0.8 + Math.random() * 0.4));
        delay = Math.min(delay * 2, r.maxDelayMs);
      }
    }
  }

  /** Drop a connection: MQBACK first (MQDISC would commit an open unit of work), then close and disconnect. */
  async #drop(reason: string): Promise<void> {
    const c = this.#conn;
    this.#conn = undefined;
    if (!c) return;
    const mq = this.#mq;
    if (this.#inFlight) {
      await new Promise<void>((res) => mq.Back(c.hconn, () => res()));
      this.#inFlight = 0;
    }
    await mq.ClosePromise(c.hobj, 0).catch(() => undefined);
    await mq.DiscPromise(c.hconn).catch(() => undefined);
    this.#log.debug({ reason }, 'disconnected from the queue manager');
  }

  #pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#ctx.signal }).catch(() => undefined);
  }

  // ---- reading -------------------------------------------------------------------------------------------------

  /** One MQGET (no wait, under syncpoint): a message, 'empty', or throws the MQ error. */
  #get(c: Conn): { md: MqMd; data: Buffer } | 'empty' {
    const mq = this.#mq;
    for (;;) {
      const md = new mq.MQMD();
      const gmo = new mq.MQGMO();
      let opts = this.#n('MQGMO_SYNCPOINT') | this.#n('MQGMO_NO_WAIT') | this.#n('MQGMO_FAIL_IF_QUIESCING');
      const convert = this.#o.convert === 'always' || (this.#o.convert === 'auto' && !this.#ctx.format.binary);
      if (convert) {
        opts |= this.#n('MQGMO_CONVERT');
        md.CodedCharSetId = 1208; // text arrives as UTF-8
      }
      gmo.Options = opts;
      gmo.MatchOptions = 0; // MQMO_NONE: next message, whatever its ids
      gmo.WaitInterval = 0;
      let error: MqErrorLike | null = null;
      let len = 0;
      mq.GetSync(c.hobj, md, gmo, this.#buf, (err, l) => {
        error = err;
        len = l ?? 0;
      });
      const e = error as MqErrorLike | null;
      if (!e) return { md, data: Buffer.from(this.#buf.subarray(0, len)) };
      if (e.mqrc === 2033) return 'empty';
      if (e.mqrc === 2080) {
        // Buffer too small: the message stays on the queue and MQ reports its length. Retry with a bigger buffer.
        if (len > this.#o.maxMessageBytes)
          throw new Fatal(`ibm-mq: message of ${len} bytes exceeds maxMessageBytes ${this.#o.maxMessageBytes} (it stays on the queue)`);
        this.counters.truncatedRetries++;
        this.#buf = Buffer.alloc(Math.max(len, this.#buf.length * 2));
        continue;
      }
      if (e.mqrc === 2110 && convert) return { md, data: Buffer.from(this.#buf.subarray(0, len)) }; // not convertible: raw
      throw e;
    }
  }

  #record(c: Conn, md: MqMd, data: Buffer): SourceRecord {
    const ref = hex(md.MsgId);
    const meta = Object.freeze({
      MsgId: ref,
      CorrelId: hex(md.CorrelId),
      PutDate: md.PutDate,
      PutTime: md.PutTime,
      putTimestamp: putTimestamp(md.PutDate, md.PutTime),
      Format: String(md.Format ?? '').trim(),
      CodedCharSetId: md.CodedCharSetId,
      Encoding: md.Encoding,
      BackoutCount: md.BackoutCount,
      Persistence: md.Persistence,
      Priority: md.Priority,
      ReplyToQ: String(md.ReplyToQ ?? '').trim(),
      UserIdentifier: String(md.UserIdentifier ?? '').trim(),
      PutApplName: String(md.PutApplName ?? '').trim(),
      queue: this.#o.queue,
      queueManager: this.#o.queueManager,
      transport: 'mqi',
    });
    void c;
    const want = this.#o.ccsidCheck === false ? undefined : (this.#ctx.format as { ccsid?: number }).ccsid;
    const got = md.CodedCharSetId;
    if (want && got !== want && KNOWN_CCSIDS.has(got))
      return {
        ref,
        payload: data,
        meta,
        error: {
          stage: 'decode',
          reason: `wrong code page: message ${ref} has CodedCharSetId ${got} but the copybook format decodes CCSID ${want} (set codePage, or ccsidCheck: false if the MQMD is wrong)`,
          offset: 0,
          file: ref,
        },
      };
    return { ref, payload: data, meta };
  }

  /** Move a poison message aside, under the current syncpoint (backout queue) or into the dead-letter store. */
  async #moveAside(c: Conn, md: MqMd, data: Buffer): Promise<void> {
    const mq = this.#mq;
    const ref = hex(md.MsgId);
    if (c.boq) {
      const od = new mq.MQOD();
      od.ObjectName = c.boq;
      const pmo = new mq.MQPMO();
      pmo.Options = this.#n('MQPMO_SYNCPOINT') | this.#n('MQPMO_FAIL_IF_QUIESCING');
      await mq.Put1Promise(c.hconn, od, md, pmo, data);
      this.counters.movedToBackoutQueue++;
      this.#log.warn({ msgId: ref, backoutCount: md.BackoutCount, threshold: c.threshold, backoutQueue: c.boq }, 'poison message moved to the backout queue');
    } else {
      const rec = this.#record(c, md, data);
      await this.#ctx.deadLetter({
        stage: 'source',
        reason: `poison message: backed out ${md.BackoutCount} times (backout threshold ${c.threshold}) and queue ${this.#o.queue} has no backout queue`,
        ref,
        payload: data,
        meta: { ...rec.meta },
      });
      this.counters.deadLettered++;
      this.#log.warn({ msgId: ref, backoutCount: md.BackoutCount, threshold: c.threshold }, 'poison message stored in the dead-letter store');
    }
  }

  #commitNow(c: Conn): Promise<void> {
    return new Promise((res, rej) => this.#mq.Cmit(c.hconn, (err) => (err ? rej(err) : res())));
  }

  async *batches(): AsyncGenerator<SourceBatch<MqPosition>> {
    const { signal, once } = this.#ctx;
    const max = this.#o.batchSize ?? this.#ctx.batchSize;
    while (!signal.aborted && !this.#closed) {
      const c = this.#conn ?? (await this.#connect());
      if (!c) return;
      const records: SourceRecord[] = [];
      let moved = 0;
      let broken: unknown;
      let quiescing = false;
      try {
        while (records.length < max) {
          const got = this.#get(c);
          if (got === 'empty') break;
          this.#inFlight++;
          if (c.threshold > 0 && got.md.BackoutCount >= c.threshold) {
            await this.#moveAside(c, got.md, got.data);
            moved++;
            continue;
          }
          records.push(this.#record(c, got.md, got.data));
        }
      } catch (err) {
        if (err instanceof Fatal) throw err;
        const rc = reasonOf(err);
        if (rc === undefined || !RECONNECT_REASONS.has(rc)) throw new Error(`ibm-mq: ${(err as Error).message}`, { cause: err });
        if (QUIESCING_REASONS.has(rc) && (records.length || moved)) quiescing = true;
        else broken = err;
      }
      if (broken) {
        // The queue manager backs out the unit of work of a broken connection: these messages come again.
        this.#log.warn({ reason: reasonOf(broken), dropped: records.length + moved, err: (broken as Error).message }, 'connection to the queue manager lost; reconnecting');
        this.#inFlight = 0;
        await this.#drop('connection broken');
        continue;
      }
      if (records.length === 0) {
        if (moved) {
          // Only poison messages: commit their move now (nothing for the pipeline).
          await this.#commitOrDrop(c, moved);
        }
        if (quiescing) await this.#drop('queue manager quiescing');
        else if (once) return;
        else await this.#pause(this.#o.waitInterval);
        continue;
      }
      this.counters.messages += records.length;
      const position: MqPosition = { gen: c.gen, messages: records.length, moved };
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#waitCommit = { resolve, promise };
      yield { records, position, commitBarrier: true, unit: this.#o.queue };
      // MQCMIT covers every get on the connection: get nothing more until the engine committed this batch.
      await Promise.race([promise, new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))]);
      this.#waitCommit = undefined;
      if (quiescing) await this.#drop('queue manager quiescing');
      if (signal.aborted) return;
    }
  }

  async #commitOrDrop(c: Conn, n: number): Promise<void> {
    try {
      await this.#commitNow(c);
      this.#inFlight = 0;
      this.counters.commits++;
    } catch (err) {
      const rc = reasonOf(err);
      if (rc === undefined || !(RECONNECT_REASONS.has(rc) || rc === 2003)) throw err;
      this.#log.warn({ reason: rc, messages: n, err: (err as Error).message }, 'MQCMIT failed; the queue manager backed the messages out and will deliver them again');
      this.#inFlight = 0;
      await this.#drop('commit failed');
    }
  }

  async commit(positions: MqPosition[]): Promise<void> {
    const last = positions[positions.length - 1];
    const c = this.#conn;
    const n = positions.reduce((a, p) => a + p.messages + p.moved, 0);
    if (!c || c.gen !== last.gen) {
      this.#log.warn({ messages: n }, 'the connection these messages were got on is gone: the queue manager backed them out and will deliver them again (duplicates downstream carry the same event ids)');
    } else await this.#commitOrDrop(c, n);
    this.#waitCommit?.resolve();
  }

  async rollback(positions: MqPosition[], error: Error): Promise<void> {
    const c = this.#conn;
    const n = positions.reduce((a, p) => a + p.messages + p.moved, 0);
    if (c && this.#inFlight) {
      await new Promise<void>((res) => this.#mq.Back(c.hconn, () => res()));
      this.#inFlight = 0;
      this.counters.backouts++;
      this.#log.warn({ messages: n, err: error.message }, 'MQBACK: the messages stay on the queue (BackoutCount + 1)');
    }
    this.#waitCommit?.resolve();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#waitCommit?.resolve();
    await this.#drop('close');
  }
}
