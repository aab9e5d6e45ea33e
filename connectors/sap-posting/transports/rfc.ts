/**
 * RFC: `BAPI_GOODSMVT_CREATE`, then `BAPI_TRANSACTION_COMMIT` (WAIT = 'X') — or `BAPI_TRANSACTION_ROLLBACK` when RETURN
 * holds an E/A message or no material document came back — on the same stateful connection (node-rfc clients are
 * stateful: the commit applies the LUW of its own session). A client is used by one posting at a time; after any
 * error it is closed and replaced, since the session and its uncommitted LUW are gone.
 *
 * Outcomes: cannot open (logon, network) → not sent; an error or timeout during CREATE or COMMIT → uncertain (the
 * LUW dies with the session, but a commit that timed out may still complete); RETURN E/A → rejected.
 * Lookup of an uncertain key: `RFC_READ_TABLE` on MKPF (BKTXT = header text, or XBLNR = reference document).
 */
import { classifyRfcError, loadNodeRfc, type RfcClient, type RfcClientConstructor } from '../../sap/node-rfc.ts';
import type { PostedDocument, Posting, PostingItem, PostResult, SapMessage, Transport } from '../posting.ts';

export interface RfcOptions {
  /** node-rfc connection parameters: {dest} (sapnwrfc.ini) or {ashost, sysnr, client, user, passwd, lang, ...}. */
  connection: Record<string, string>;
  /** Seconds before a call is given up (node-rfc `timeout`). */
  timeoutSeconds?: number;
  /** Clients kept open (postings in parallel). */
  connections?: number;
  /** Lookup table and field for uncertain postings (default MKPF, BKTXT or XBLNR by key field). */
  lookup?: { table?: string; field?: string };
}

const isError = (m: SapMessage) => m.type === 'E' || m.type === 'A';

function toMessages(ret: unknown): SapMessage[] {
  const rows = Array.isArray(ret) ? ret : ret && typeof ret === 'object' ? [ret] : [];
  return (rows as Array<Record<string, unknown>>)
    .filter((r) => String(r.TYPE ?? '').trim() !== '')
    .map((r) => {
      const m: SapMessage = { type: String(r.TYPE).trim(), message: String(r.MESSAGE ?? '').trim() };
      const id = String(r.ID ?? '').trim();
      const number = String(r.NUMBER ?? '').trim();
      const field = String(r.FIELD ?? '').trim();
      if (id) m.id = id;
      if (number) m.number = number;
      if (field) m.field = field;
      return m;
    });
}

/** BAPI2017_GM_ITEM_CREATE row of an item. */
export function bapiItem(i: PostingItem): Record<string, string> {
  const row: Record<string, string> = {
    PLANT: i.plant,
    STGE_LOC: i.storageLocation,
    MOVE_TYPE: i.movementType,
    ENTRY_QNT: i.quantity,
  };
  if (i.materialLong) row.MATERIAL_LONG = i.material;
  else row.MATERIAL = i.material;
  if (i.unitIso) row.ENTRY_UOM_ISO = i.unit;
  else row.ENTRY_UOM = i.unit;
  if (i.batch) row.BATCH = i.batch;
  if (i.stockType) row.STCK_TYPE = i.stockType;
  if (i.specialStock) row.SPEC_STOCK = i.specialStock;
  if (i.moveReason) row.MOVE_REAS = i.moveReason;
  if (i.costCenter) row.COSTCENTER = i.costCenter;
  if (i.itemText) row.ITEM_TEXT = i.itemText;
  if (i.moveMaterial) row.MOVE_MAT = i.moveMaterial;
  if (i.movePlant) row.MOVE_PLANT = i.movePlant;
  if (i.moveStorageLocation) row.MOVE_STLOC = i.moveStorageLocation;
  if (i.moveBatch) row.MOVE_BATCH = i.moveBatch;
  return row;
}

export function bapiHeader(p: Posting): Record<string, string> {
  const h: Record<string, string> = { PSTNG_DATE: p.header.postingDate, DOC_DATE: p.header.documentDate };
  if (p.header.headerText) h.HEADER_TXT = p.header.headerText;
  if (p.header.referenceDocument) h.REF_DOC_NO = p.header.referenceDocument;
  return h;
}

export class RfcTransport implements Transport {
  readonly name = 'rfc';
  readonly #o: RfcOptions;
  #Client: RfcClientConstructor | undefined;
  readonly #idle: RfcClient[] = [];
  #open = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(o: RfcOptions) {
    this.#o = o;
  }

  /** Loads node-rfc (throws its ConfigError when it is missing). */
  async init(): Promise<void> {
    this.#Client ??= await loadNodeRfc();
  }

  get #max(): number {
    return this.#o.connections ?? 4;
  }

  async #acquire(): Promise<RfcClient> {
    for (;;) {
      const c = this.#idle.pop();
      if (c) {
        if (c.alive) return c;
        this.#open--;
        continue;
      }
      if (this.#open < this.#max) {
        this.#open++;
        await this.init();
        const client = new this.#Client!(this.#o.connection, { stateless: false, timeout: this.#o.timeoutSeconds ?? 60 });
        try {
          await client.open();
        } catch (err) {
          this.#open--;
          this.#wake();
          throw err;
        }
        return client;
      }
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  #release(c: RfcClient): void {
    this.#idle.push(c);
    this.#wake();
  }

  /** A client whose session is gone or unknown: close it and forget it. */
  #discard(c: RfcClient): void {
    this.#open--;
    c.close().catch(() => undefined);
    this.#wake();
  }

  #wake(): void {
    this.#waiters.shift()?.();
  }

  #callOpts() {
    return { timeout: this.#o.timeoutSeconds ?? 60 };
  }

  async post(p: Posting): Promise<PostResult> {
    let c: RfcClient;
    try {
      c = await this.#acquire();
    } catch (err) {
      const info = classifyRfcError(err);
      return { kind: 'not-sent', error: `cannot open an RFC connection: ${info.text}`, fatal: info.logon };
    }
    let stage = 'BAPI_GOODSMVT_CREATE';
    let rejected: SapMessage[] = [];
    try {
      const r = await c.call(
        'BAPI_GOODSMVT_CREATE',
        { GOODSMVT_HEADER: bapiHeader(p), GOODSMVT_CODE: { GM_CODE: p.gmCode }, GOODSMVT_ITEM: p.items.map(bapiItem) },
        this.#callOpts(),
      );
      const messages = toMessages(r.RETURN);
      const doc = String(r.MATERIALDOCUMENT ?? '').trim();
      if (messages.some(isError) || doc === '') {
        rejected = messages.length ? messages : [{ type: 'E', message: 'BAPI_GOODSMVT_CREATE returned no material document' }];
        stage = 'BAPI_TRANSACTION_ROLLBACK';
        await c.call('BAPI_TRANSACTION_ROLLBACK', {}, this.#callOpts());
        this.#release(c);
        return { kind: 'rejected', messages: rejected };
      }
      stage = 'BAPI_TRANSACTION_COMMIT';
      const cr = await c.call('BAPI_TRANSACTION_COMMIT', { WAIT: 'X' }, this.#callOpts());
      const commitMessages = toMessages(cr.RETURN);
      this.#release(c);
      if (commitMessages.some(isError)) return { kind: 'rejected', messages: commitMessages };
      return { kind: 'posted', materialDocument: doc, year: String(r.MATDOCUMENTYEAR ?? '').trim(), messages };
    } catch (err) {
      this.#discard(c);
      // A failed rollback still posts nothing: the session, and its LUW, are gone with the discarded client.
      if (stage === 'BAPI_TRANSACTION_ROLLBACK') return { kind: 'rejected', messages: rejected };
      return { kind: 'uncertain', error: `${stage}: ${classifyRfcError(err).text}` };
    }
  }

  async lookup(p: Posting): Promise<PostedDocument | null> {
    const table = this.#o.lookup?.table ?? 'MKPF';
    const field = this.#o.lookup?.field ?? (p.keyField === 'headerText' ? 'BKTXT' : 'XBLNR');
    const c = await this.#acquire();
    try {
      const r = await c.call(
        'RFC_READ_TABLE',
        {
          QUERY_TABLE: table,
          DELIMITER: '|',
          OPTIONS: [{ TEXT: `${field} = '${p.key.replaceAll("'", "''")}'` }],
          FIELDS: [{ FIELDNAME: 'MBLNR' }, { FIELDNAME: 'MJAHR' }],
        },
        this.#callOpts(),
      );
      this.#release(c);
      const row = (r.DATA as Array<{ WA: string }> | undefined)?.[0];
      if (!row) return null;
      const [mblnr, mjahr] = row.WA.split('|').map((s) => s.trim());
      return { materialDocument: mblnr, year: mjahr };
    } catch (err) {
      this.#discard(c);
      throw new Error(classifyRfcError(err).text);
    }
  }

  async close(): Promise<void> {
    const all = this.#idle.splice(0);
    this.#open -= all.length;
    await Promise.all(all.map((c) => c.close().catch(() => undefined)));
  }
}
