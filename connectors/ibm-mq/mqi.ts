/**
 * The slice of the `ibmmq` module (ibm-messaging/mq-mqi-nodejs v2) this connector uses, and its lazy loader.
 * `ibmmq` is an optional dependency: its install step downloads IBM's redistributable MQ client, and loading it
 * needs the MQ C libraries (libmqm_r.so). The source takes the module as an injectable dependency, so tests run
 * against test/doubles/mqi-double.ts and production loads the real package only when an `ibm-mq` source starts.
 */

export interface MqMd {
  Format: string;
  CodedCharSetId: number;
  Encoding: number;
  MsgId: Buffer;
  CorrelId: Buffer;
  BackoutCount: number;
  Persistence: number;
  Priority: number;
  ReplyToQ: string;
  UserIdentifier: string;
  PutApplName: string;
  PutDate: string;
  PutTime: string;
}

export interface MqErrorLike extends Error {
  mqcc: number;
  mqrc: number;
  verb?: string;
}

type Ctor<T> = new () => T;

/** What the source needs from `ibmmq`. Handles are opaque. */
export interface MqiModule {
  MQC: Record<string, number | string>;
  MQCNO: Ctor<Record<string, unknown>>;
  MQCD: Ctor<Record<string, unknown>>;
  MQSCO: Ctor<Record<string, unknown>>;
  MQCSP: Ctor<Record<string, unknown>>;
  MQOD: Ctor<{ ObjectName: string | null }>;
  MQMD: Ctor<MqMd>;
  MQGMO: Ctor<{ Options: number; WaitInterval: number; MatchOptions: number }>;
  MQPMO: Ctor<{ Options: number }>;
  MQAttr: new (selector: number, value?: unknown) => { selector: number; value: unknown };
  ConnxPromise(qmgr: string, cno: unknown): Promise<unknown>;
  OpenPromise(hconn: unknown, od: unknown, options: number): Promise<unknown>;
  ClosePromise(hobj: unknown, options: number): Promise<unknown>;
  DiscPromise(hconn: unknown): Promise<unknown>;
  GetSync(hobj: unknown, md: MqMd, gmo: unknown, buf: Buffer, cb: (err: MqErrorLike | null, len?: number) => void): unknown;
  Cmit(hconn: unknown, cb: (err: MqErrorLike | null) => void): unknown;
  Back(hconn: unknown, cb: (err: MqErrorLike | null) => void): unknown;
  Inq(hobj: unknown, selectors: Array<{ selector: number; value: unknown }>, cb: (err: MqErrorLike | null) => void): unknown;
  Put1Promise(hconn: unknown, od: unknown, md: MqMd, pmo: unknown, buf: Buffer): Promise<unknown>;
}

export const INSTALL_HINT =
  'the ibmmq package or the IBM MQ C client libraries are not available. Install the client: either ' +
  '`npm install ibmmq` with network access to IBM (its postinstall downloads the MQ Redistributable Client), or install ' +
  'the MQ client yourself, set MQIJS_NOREDIST=1 before `npm install ibmmq`, and point LD_LIBRARY_PATH at its lib64 ' +
  'directory (e.g. /opt/mqm/lib64). Or use `transport: amqp` against an AMQP channel.';

export class MqClientMissing extends Error {
  override readonly name = 'MqClientMissing';
}

/** Loads `ibmmq` lazily; one clear error when the package or the MQ C libraries are missing. */
export async function loadIbmMq(importer: () => Promise<unknown> = () => import('ibmmq' as string)): Promise<MqiModule> {
  let mod: unknown;
  try {
    mod = await importer();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const detail =
      e.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module) 'ibmmq'/.test(String(e.message))
        ? 'package ibmmq is not installed'
        : String(e.message).split('\n')[0];
    throw new MqClientMissing(`ibm-mq: ${INSTALL_HINT} (${detail})`, { cause: err });
  }
  const m = ((mod as { default?: unknown }).default ?? mod) as MqiModule;
  if (typeof m?.ConnxPromise !== 'function' || typeof m.GetSync !== 'function')
    throw new MqClientMissing(`ibm-mq: the ibmmq module does not look like ibm-messaging/mq-mqi-nodejs v2. ${INSTALL_HINT}`);
  return m;
}

export const RECONNECT_REASONS = new Set([2009, 2059, 2538, 2161, 2162, 2202, 2203, 2018]);
export const QUIESCING_REASONS = new Set([2161, 2162, 2202, 2203]);

export function reasonOf(err: unknown): number | undefined {
  const rc = (err as MqErrorLike | undefined)?.mqrc;
  return typeof rc === 'number' ? rc : undefined;
}
