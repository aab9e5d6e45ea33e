/**
 * MQI TEST DOUBLE — an in-memory stand-in for the subset of the `ibmmq` module (ibm-messaging/mq-mqi-nodejs v2)
 * that connectors/ibm-mq uses. It is NOT IBM MQ: no channels, no persistence across processes, no real client.
 *
 * Faithful where the source's correctness depends on it (IBM MQ docs: MQGET/MQCMIT/MQBACK/MQDISC, reason codes):
 *  - gets under syncpoint are invisible to others until MQCMIT removes them; MQBACK returns them to the queue in
 *    their original order with BackoutCount + 1; puts/Put1 under syncpoint become visible only at MQCMIT;
 *  - a broken connection (breakConnections / kill) backs the unit of work out (BackoutCount + 1), and every later
 *    verb on that handle fails with 2009 CONNECTION_BROKEN;
 *  - MQDISC with an open unit of work COMMITS it (queue-manager-coordinated units of work on Multiplatforms: "the
 *    queue manager issues MQCMIT on the application's behalf"), which is why a source must MQBACK before MQDISC;
 *  - 2033 NO_MSG_AVAILABLE on an empty queue; 2080 TRUNCATED_MSG_FAILED (MQCC_WARNING) when the buffer is too
 *    small, leaving the message on the queue and reporting its length; 2079 with MQGMO_ACCEPT_TRUNCATED_MSG;
 *  - 2059 Q_MGR_NOT_AVAILABLE / 2538 HOST_NOT_AVAILABLE on connect while the queue manager is down; 2161
 *    Q_MGR_QUIESCING (or 2202 CONNECTION_QUIESCING) on connects and on gets with FAIL_IF_QUIESCING while quiescing;
 *    2085 UNKNOWN_OBJECT_NAME; 2035 NOT_AUTHORIZED;
 *  - Inq of MQIA_BACKOUT_THRESHOLD / MQCA_BACKOUT_REQ_Q_NAME (blank-padded to 48 like the real MQCA attribute);
 *  - the call shapes: GetSync/Cmit/Back/Inq synchronous (throwing MQError, or calling an optional callback),
 *    ConnxPromise/OpenPromise/ClosePromise/DiscPromise/Put1Promise asynchronous.
 * Not modelled: message expiry, priorities (FIFO only), selectors/match options, groups, data conversion (CONVERT
 * is recorded, not performed), MQCB/async consume.
 */

export const MQC = {
  MQCC_OK: 0,
  MQCC_WARNING: 1,
  MQCC_FAILED: 2,
  MQRC_NONE: 0,
  MQRC_BACKED_OUT: 2003,
  MQRC_CONNECTION_BROKEN: 2009,
  MQRC_HCONN_ERROR: 2018,
  MQRC_NO_MSG_AVAILABLE: 2033,
  MQRC_NOT_AUTHORIZED: 2035,
  MQRC_Q_MGR_NAME_ERROR: 2058,
  MQRC_Q_MGR_NOT_AVAILABLE: 2059,
  MQRC_TRUNCATED_MSG_ACCEPTED: 2079,
  MQRC_TRUNCATED_MSG_FAILED: 2080,
  MQRC_UNKNOWN_OBJECT_NAME: 2085,
  MQRC_FORMAT_ERROR: 2110,
  MQRC_Q_MGR_QUIESCING: 2161,
  MQRC_Q_MGR_STOPPING: 2162,
  MQRC_CONNECTION_QUIESCING: 2202,
  MQRC_CONNECTION_STOPPING: 2203,
  MQRC_HOST_NOT_AVAILABLE: 2538,
  MQCNO_CLIENT_BINDING: 2048,
  MQCSP_AUTH_USER_ID_AND_PWD: 1,
  MQOT_Q: 1,
  MQOO_INPUT_AS_Q_DEF: 1,
  MQOO_INQUIRE: 32,
  MQOO_FAIL_IF_QUIESCING: 8192,
  MQCO_NONE: 0,
  MQGMO_WAIT: 1,
  MQGMO_NO_WAIT: 0,
  MQGMO_SYNCPOINT: 2,
  MQGMO_NO_SYNCPOINT: 4,
  MQGMO_ACCEPT_TRUNCATED_MSG: 64,
  MQGMO_FAIL_IF_QUIESCING: 8192,
  MQGMO_CONVERT: 16384,
  MQMO_NONE: 0,
  MQPMO_SYNCPOINT: 2,
  MQPMO_NO_SYNCPOINT: 4,
  MQPMO_FAIL_IF_QUIESCING: 8192,
  MQIA_BACKOUT_THRESHOLD: 22,
  MQCA_BACKOUT_REQ_Q_NAME: 2019,
  MQFMT_NONE: '',
  MQFMT_STRING: 'MQSTR',
  MQENC_NATIVE: 546,
  MQENC_S390: 785,
  MQCCSI_Q_MGR: 0,
} as const;

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MQC)
    .filter(([k]) => k.startsWith('MQRC_'))
    .map(([k, v]) => [v as number, k]),
);

export class MQError extends Error {
  readonly mqcc: number;
  readonly mqrc: number;
  readonly mqrcstr: string;
  readonly verb: string;
  constructor(mqcc: number, mqrc: number, verb: string) {
    super(`${verb}: MQCC = ${mqcc === 1 ? 'MQCC_WARNING' : 'MQCC_FAILED'} [${mqcc}] MQRC = ${NAMES[mqrc] ?? 'Unknown'} [${mqrc}]`);
    this.name = 'MQError';
    this.mqcc = mqcc;
    this.mqrc = mqrc;
    this.mqrcstr = NAMES[mqrc] ?? 'Unknown';
    this.verb = verb;
  }
}

export class MQCNO {
  Options = 0;
  ClientConn: MQCD | null = null;
  SecurityParms: MQCSP | null = null;
  SSLConfig: MQSCO | null = null;
  CCDTUrl: string | null = null;
  ApplName: string | null = null;
}
export class MQCD {
  ChannelName = '';
  ConnectionName = '';
  SSLCipherSpec = '';
  MaxMsgLength = 4194304;
}
export class MQSCO {
  KeyRepository = '';
  CertificateLabel = '';
}
export class MQCSP {
  AuthenticationType = 0;
  UserId = '';
  Password = '';
}
export class MQOD {
  ObjectName = '';
  ObjectType = 1;
}
export class MQMD {
  Format = '';
  CodedCharSetId = 0;
  Encoding = 546;
  MsgId = Buffer.alloc(24);
  CorrelId = Buffer.alloc(24);
  BackoutCount = 0;
  Persistence = 0;
  Priority = 0;
  ReplyToQ = '';
  UserIdentifier = '';
  PutApplName = '';
  PutDate = '';
  PutTime = '';
}
export class MQGMO {
  Options = 0;
  WaitInterval = 0;
  MatchOptions = 3;
  ReturnedLength = 0;
}
export class MQPMO {
  Options = 0;
}
export class MQAttr {
  selector: number;
  value: unknown;
  constructor(selector: number, value?: unknown) {
    this.selector = selector;
    this.value = value;
  }
}

export interface DoubleMessage {
  data: Buffer;
  Format: string;
  CodedCharSetId: number;
  Encoding: number;
  MsgId: Buffer;
  CorrelId: Buffer;
  BackoutCount: number;
  PutDate: string;
  PutTime: string;
  Persistence: number;
  Priority: number;
  ReplyToQ: string;
  UserIdentifier: string;
  PutApplName: string;
}

/** FIFO with O(1) get from the front (a plain array's shift() is O(n) on deep queues). */
class Fifo {
  #items: DoubleMessage[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  peek(): DoubleMessage | undefined {
    return this.#items[this.#head];
  }
  push(m: DoubleMessage): void {
    this.#items.push(m);
  }
  shift(): DoubleMessage | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const m = this.#items[this.#head];
    this.#items[this.#head++] = undefined as never;
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return m;
  }
  unshift(m: DoubleMessage): void {
    if (this.#head > 0) this.#items[--this.#head] = m;
    else this.#items.unshift(m);
  }
  toArray(): DoubleMessage[] {
    return this.#items.slice(this.#head);
  }
}

export class DoubleQueue {
  readonly name: string;
  readonly fifo = new Fifo();
  backoutThreshold: number;
  backoutQueue: string;
  constructor(name: string, backoutThreshold: number, backoutQueue: string) {
    this.name = name;
    this.backoutThreshold = backoutThreshold;
    this.backoutQueue = backoutQueue;
  }
  /** A snapshot of the messages on the queue, front first. */
  get messages(): DoubleMessage[] {
    return this.fifo.toArray();
  }
}

interface UowEntry {
  kind: 'get' | 'put';
  queue: DoubleQueue;
  msg: DoubleMessage;
  /** Index the message had in its queue when it was got (to put it back in order). */
  seq: number;
}

export class Hconn {
  readonly id: number;
  readonly qmgr: string;
  broken = false;
  closed = false;
  uow: UowEntry[] = [];
  constructor(id: number, qmgr: string) {
    this.id = id;
    this.qmgr = qmgr;
  }
}

export class Hobj {
  readonly hconn: Hconn;
  readonly queue: DoubleQueue;
  closed = false;
  constructor(hconn: Hconn, queue: DoubleQueue) {
    this.hconn = hconn;
    this.queue = queue;
  }
}

export interface DoubleStats {
  connects: number;
  connectFailures: number;
  gets: number;
  getsWithConvert: number;
  getsWithoutSyncpoint: number;
  truncatedFailures: number;
  commits: number;
  backouts: number;
  implicitBackouts: number;
  disconnectCommits: number;
  put1: number;
  inquiries: number;
}

/** The queue manager behind the double, with fault injection. */
export class QueueManagerDouble {
  readonly name: string;
  readonly queues = new Map<string, DoubleQueue>();
  readonly connections: Hconn[] = [];
  readonly stats: DoubleStats = {
    connects: 0,
    connectFailures: 0,
    gets: 0,
    getsWithConvert: 0,
    getsWithoutSyncpoint: 0,
    truncatedFailures: 0,
    commits: 0,
    backouts: 0,
    implicitBackouts: 0,
    disconnectCommits: 0,
    put1: 0,
    inquiries: 0,
  };
  /** Reason code of the next connects (e.g. 2059 while "down"), and how many. */
  #connectFailures: Array<number> = [];
  #down = 0;
  #quiescing = 0;
  #seq = 0;
  #msgSeq = 0;
  /** Called before each GetSync (fault injection hook); may throw or break connections. */
  beforeGet?: (hconn: Hconn) => void;
  /** Credentials required on connect, if set. */
  credentials?: { user: string; password: string };
  /** Last MQCNO seen (to check channel/TLS/CCDT wiring). */
  lastCno?: MQCNO;

  constructor(name = 'QM1') {
    this.name = name;
  }

  defineQueue(name: string, opts: { backoutThreshold?: number; backoutQueue?: string } = {}): DoubleQueue {
    const q = new DoubleQueue(name, opts.backoutThreshold ?? 0, opts.backoutQueue ?? '');
    this.queues.set(name, q);
    return q;
  }

  queue(name: string): DoubleQueue {
    const q = this.queues.get(name);
    if (!q) throw new Error(`no queue ${name} in the double`);
    return q;
  }

  /** Put a message as another application would (committed at once). */
  put(queue: string, data: Buffer | string, md: Partial<DoubleMessage> = {}): DoubleMessage {
    const msg = this.#message(typeof data === 'string' ? Buffer.from(data) : data, md);
    this.queue(queue).fifo.push(msg);
    return msg;
  }

  #message(data: Buffer, md: Partial<DoubleMessage>): DoubleMessage {
    const n = ++this.#msgSeq;
    const id = Buffer.alloc(24);
    id.write('AMQ QM1 ', 0, 'latin1');
    id.writeUInt32BE(n, 20);
    return {
      data,
      Format: '',
      CodedCharSetId: 37,
      Encoding: 785,
      MsgId: id,
      CorrelId: Buffer.alloc(24),
      BackoutCount: 0,
      PutDate: '20240118',
      PutTime: '13453012',
      Persistence: 1,
      Priority: 0,
      ReplyToQ: '',
      UserIdentifier: 'mainfram',
      PutApplName: 'CICS',
      ...md,
    };
  }

  depth(queue: string): number {
    return this.queue(queue).fifo.length;
  }

  /** Messages got under syncpoint and not yet committed, over all connections. */
  uncommitted(): number {
    return this.connections.reduce((n, c) => n + c.uow.filter((e) => e.kind === 'get').length, 0);
  }

  /** The next `n` connects fail with `reason` (2059 queue manager not available, 2538 host not available, ...). */
  failNextConnects(n: number, reason: number = MQC.MQRC_Q_MGR_NOT_AVAILABLE): void {
    for (let i = 0; i < n; i++) this.#connectFailures.push(reason);
  }

  /** Network failure / queue manager crash: every open connection breaks; units of work are backed out. */
  breakConnections(): void {
    for (const c of this.connections) this.#break(c);
  }

  /** The process holding `hconn` died (no MQCMIT, no MQDISC): its unit of work is backed out. */
  kill(hconn: Hconn): void {
    this.#break(hconn);
  }

  #break(c: Hconn): void {
    if (c.broken || c.closed) return;
    c.broken = true;
    if (c.uow.length) {
      this.stats.implicitBackouts++;
      this.#backout(c);
    }
  }

  /** Queue manager down for the next `connects` connect attempts (2059), and connections broken now. */
  stop(connects: number): void {
    this.breakConnections();
    this.#down = connects;
  }

  /** Queue manager quiescing (2161, or 2202 CONNECTION_QUIESCING): verbs with FAIL_IF_QUIESCING and connects fail. */
  quiesce(on = true, reason: number = MQC.MQRC_Q_MGR_QUIESCING): void {
    this.#quiescing = on ? reason : 0;
  }

  // ---- the ibmmq surface ---------------------------------------------------------------------------------------

  readonly module = {
    MQC,
    MQCNO,
    MQCD,
    MQSCO,
    MQCSP,
    MQOD,
    MQMD,
    MQGMO,
    MQPMO,
    MQAttr,
    MQError,
    ConnxPromise: async (qmgr: string, cno: MQCNO): Promise<Hconn> => {
      await Promise.resolve();
      this.lastCno = cno;
      let fail = this.#connectFailures.shift() ?? 0;
      if (!fail && this.#down > 0) {
        this.#down--;
        fail = MQC.MQRC_Q_MGR_NOT_AVAILABLE;
      }
      if (fail) {
        this.stats.connectFailures++;
        throw new MQError(MQC.MQCC_FAILED, fail, 'CONNX');
      }
      if (qmgr && qmgr !== this.name) throw new MQError(MQC.MQCC_FAILED, MQC.MQRC_Q_MGR_NAME_ERROR, 'CONNX');
      if (this.#quiescing) throw new MQError(MQC.MQCC_FAILED, this.#quiescing, 'CONNX');
      if (this.credentials) {
        const csp = cno.SecurityParms;
        if (!csp || csp.UserId !== this.credentials.user || csp.Password !== this.credentials.password)
          throw new MQError(MQC.MQCC_FAILED, MQC.MQRC_NOT_AUTHORIZED, 'CONNX');
      }
      this.stats.connects++;
      const h = new Hconn(++this.#seq, qmgr || this.name);
      this.connections.push(h);
      return h;
    },
    OpenPromise: async (hconn: Hconn, od: MQOD, _options: number): Promise<Hobj> => {
      await Promise.resolve();
      this.#check(hconn, 'OPEN');
      const q = this.queues.get(od.ObjectName);
      if (!q) throw new MQError(MQC.MQCC_FAILED, MQC.MQRC_UNKNOWN_OBJECT_NAME, 'OPEN');
      return new Hobj(hconn, q);
    },
    ClosePromise: async (hobj: Hobj, _options: number): Promise<void> => {
      await Promise.resolve();
      this.#check(hobj.hconn, 'CLOSE');
      hobj.closed = true;
    },
    DiscPromise: async (hconn: Hconn): Promise<void> => {
      await Promise.resolve();
      this.#check(hconn, 'DISC');
      if (hconn.uow.length) {
        // Queue-manager-coordinated unit of work: MQDISC commits it.
        this.stats.disconnectCommits++;
        this.#commit(hconn);
      }
      hconn.closed = true;
    },
    GetSync: (hobj: Hobj, md: MQMD, gmo: MQGMO, buf: Buffer, cb?: (err: MQError | null, len?: number) => void): number | undefined => {
      const done = (err: MQError | null, len?: number) => {
        if (cb) {
          cb(err, len);
          return undefined;
        }
        if (err) throw err;
        return len;
      };
      try {
        this.beforeGet?.(hobj.hconn);
        this.#check(hobj.hconn, 'GET');
        if (hobj.closed) throw new MQError(MQC.MQCC_FAILED, MQC.MQRC_HCONN_ERROR, 'GET');
      } catch (err) {
        return done(err as MQError, 0);
      }
      if (this.#quiescing && gmo.Options & MQC.MQGMO_FAIL_IF_QUIESCING) return done(new MQError(MQC.MQCC_FAILED, this.#quiescing, 'GET'), 0);
      const q = hobj.queue;
      const msg = q.fifo.peek();
      if (!msg) return done(new MQError(MQC.MQCC_FAILED, MQC.MQRC_NO_MSG_AVAILABLE, 'GET'), 0);
      this.stats.gets++;
      if (gmo.Options & MQC.MQGMO_CONVERT) this.stats.getsWithConvert++;
      const syncpoint = (gmo.Options & MQC.MQGMO_SYNCPOINT) !== 0;
      if (!syncpoint) this.stats.getsWithoutSyncpoint++;
      const fits = msg.data.length <= buf.length;
      if (!fits && !(gmo.Options & MQC.MQGMO_ACCEPT_TRUNCATED_MSG)) {
        this.stats.truncatedFailures++;
        this.#fillMd(md, msg);
        return done(new MQError(MQC.MQCC_WARNING, MQC.MQRC_TRUNCATED_MSG_FAILED, 'GET'), msg.data.length);
      }
      q.fifo.shift();
      if (syncpoint) hobj.hconn.uow.push({ kind: 'get', queue: q, msg, seq: hobj.hconn.uow.length });
      this.#fillMd(md, msg);
      msg.data.copy(buf, 0, 0, Math.min(buf.length, msg.data.length));
      if (!fits) return done(new MQError(MQC.MQCC_WARNING, MQC.MQRC_TRUNCATED_MSG_ACCEPTED, 'GET'), msg.data.length);
      return done(null, msg.data.length);
    },
    Cmit: (hconn: Hconn, cb?: (err: MQError | null) => void): void => {
      try {
        this.#check(hconn, 'CMIT');
      } catch (err) {
        if (!cb) throw err;
        cb(err as MQError);
        return;
      }
      this.stats.commits++;
      this.#commit(hconn);
      cb?.(null);
    },
    Back: (hconn: Hconn, cb?: (err: MQError | null) => void): void => {
      try {
        this.#check(hconn, 'BACK');
      } catch (err) {
        if (!cb) throw err;
        cb(err as MQError);
        return;
      }
      this.stats.backouts++;
      this.#backout(hconn);
      cb?.(null);
    },
    Inq: (hobj: Hobj, selectors: MQAttr[], cb?: (err: MQError | null, s?: MQAttr[]) => void): void => {
      try {
        this.#check(hobj.hconn, 'INQ');
      } catch (err) {
        if (!cb) throw err;
        cb(err as MQError);
        return;
      }
      this.stats.inquiries++;
      for (const s of selectors) {
        if (s.selector === MQC.MQIA_BACKOUT_THRESHOLD) s.value = hobj.queue.backoutThreshold;
        else if (s.selector === MQC.MQCA_BACKOUT_REQ_Q_NAME) s.value = hobj.queue.backoutQueue.padEnd(48, ' ');
      }
      cb?.(null, selectors);
    },
    Put1Promise: async (hconn: Hconn, od: MQOD, md: MQMD, pmo: MQPMO, buf: Buffer): Promise<void> => {
      await Promise.resolve();
      this.#check(hconn, 'PUT1');
      const q = this.queues.get(od.ObjectName);
      if (!q) throw new MQError(MQC.MQCC_FAILED, MQC.MQRC_UNKNOWN_OBJECT_NAME, 'PUT1');
      this.stats.put1++;
      const msg = this.#message(Buffer.from(buf), {
        Format: md.Format,
        CodedCharSetId: md.CodedCharSetId,
        Encoding: md.Encoding,
        MsgId: Buffer.from(md.MsgId),
        CorrelId: Buffer.from(md.CorrelId),
        PutDate: md.PutDate,
        PutTime: md.PutTime,
      });
      if (pmo.Options & MQC.MQPMO_SYNCPOINT) hconn.uow.push({ kind: 'put', queue: q, msg, seq: 0 });
      else q.fifo.push(msg);
    },
  };

  #check(hconn: Hconn, verb: string): void {
    if (hconn.broken) throw new MQError(MQC.MQCC_FAILED, MQC.MQRC_CONNECTION_BROKEN, verb);
    if (hconn.closed) throw new MQError(MQC.MQCC_FAILED, MQC.MQRC_HCONN_ERROR, verb);
  }

  #fillMd(md: MQMD, m: DoubleMessage): void {
    md.Format = m.Format;
    md.CodedCharSetId = m.CodedCharSetId;
    md.Encoding = m.Encoding;
    md.MsgId = Buffer.from(m.MsgId);
    md.CorrelId = Buffer.from(m.CorrelId);
    md.BackoutCount = m.BackoutCount;
    md.PutDate = m.PutDate;
    md.PutTime = m.PutTime;
    md.Persistence = m.Persistence;
    md.Priority = m.Priority;
    md.ReplyToQ = m.ReplyToQ;
    md.UserIdentifier = m.UserIdentifier;
    md.PutApplName = m.PutApplName;
  }

  #commit(c: Hconn): void {
    for (const e of c.uow) if (e.kind === 'put') e.queue.fifo.push(e.msg);
    c.uow = [];
  }

  #backout(c: Hconn): void {
    // Gets return to the front of their queues in their original order, each with BackoutCount + 1.
    const gets = c.uow.filter((e) => e.kind === 'get');
    for (let i = gets.length - 1; i >= 0; i--) {
      const e = gets[i];
      e.msg.BackoutCount++;
      e.queue.fifo.unshift(e.msg);
    }
    c.uow = [];
  }
}
