/**
 * TEST DOUBLE — stands in for node-rfc's `Client` (open/call/close/alive/ping/resetServerContext) and for the SAP
 * system behind it, with the BAPI semantics the SAP connectors rely on. Not SAP and not node-rfc: it reproduces
 * their documented behaviour so the connectors can be tested without the SAP NW RFC SDK.
 *
 * Load it in place of node-rfc with `STOCKBRIDGE_NODE_RFC=test/doubles/rfc-client-double.ts`; clients connect to the
 * `RfcSystemDouble` registered under their `dest` (or `ashost`).
 *
 *  - Stateful sessions: BAPI_GOODSMVT_CREATE puts the document into the session's LUW (number assigned, not yet in
 *    the system); BAPI_TRANSACTION_COMMIT (WAIT) applies that session's LUW only; BAPI_TRANSACTION_ROLLBACK drops it;
 *    close() or a lost session drops it too.
 *  - RETURN as BAPIRET2 rows (TYPE/ID/NUMBER/MESSAGE/…); MATERIALDOCUMENT/MATDOCUMENTYEAR and GOODSMVT_HEADRET.
 *    Business errors: unknown material (M3/305), stock deficit (M7/021) when `stock` is set, scripted E/A messages.
 *  - RFC_READ_TABLE (QUERY_TABLE, DELIMITER, ROWSKIPS, ROWCOUNT, OPTIONS `F = 'v' AND …`, FIELDS) over MKPF (built from
 *    committed documents) and any table given in `tables` (e.g. MARD); custom function modules via `functions`.
 *  - Errors shaped like node-rfc's: RfcLibError {name, group, code, codeString, key, message}, ABAPError, nodeRfcError.
 *  - Scripted faults per call: timeout or session loss before / after the function ran, logon failure, system down.
 */

export interface RfcLibError {
  name: 'RfcLibError';
  group: number;
  code: number;
  codeString: string;
  key: string;
  message: string;
}

const CODES: Record<string, number> = {
  RFC_COMMUNICATION_FAILURE: 1,
  RFC_LOGON_FAILURE: 2,
  RFC_ABAP_RUNTIME_FAILURE: 3,
  RFC_ABAP_EXCEPTION: 5,
  RFC_CLOSED: 6,
  RFC_CANCELED: 7,
  RFC_TIMEOUT: 8,
  RFC_INVALID_PARAMETER: 20,
};

export function rfcLibError(key: keyof typeof CODES, message: string): RfcLibError {
  return { name: 'RfcLibError', group: key === 'RFC_LOGON_FAILURE' ? 3 : 4, code: CODES[key], codeString: key, key, message };
}

export function abapError(key: string, message: string): Record<string, unknown> {
  return { name: 'ABAPError', group: 5, code: 5, codeString: 'RFC_ABAP_EXCEPTION', key, message, abapMsgClass: '', abapMsgType: 'E', abapMsgNumber: '000', abapMsgV1: '', abapMsgV2: '', abapMsgV3: '', abapMsgV4: '' };
}

export type RfcFault =
  /** the function runs, then the answer is lost: node-rfc cancels after its timeout */
  | 'timeout-after'
  | 'timeout-before'
  /** the connection breaks: before the function ran, or after (the session and its LUW are gone either way) */
  | 'session-loss-after'
  | 'session-loss-before'
  /** BAPI_GOODSMVT_CREATE answers with an E / A message */
  | 'business-error'
  | 'business-abort'
  /** BAPI_TRANSACTION_COMMIT reports an update error (the LUW is discarded) */
  | 'commit-error';

export interface ScriptStep {
  fn: string;
  fault: RfcFault;
  /** Only for calls whose parameters match. */
  when?: (params: Record<string, any>) => boolean;
}

export interface CommittedDoc {
  MBLNR: string;
  MJAHR: string;
  BKTXT: string;
  XBLNR: string;
  BUDAT: string;
  gmCode: string;
  items: Array<Record<string, string>>;
}

interface PendingDoc extends CommittedDoc {}

type Handler = (params: Record<string, any>, session: Client) => Record<string, any>;

export interface TableDef {
  fields: Array<[name: string, length: number]>;
  rows: Array<Record<string, string>>;
}

const ISSUES = new Set(['201', '221', '251', '261', '301', '311', '551', '601', '122', '102', '702']);

export class RfcSystemDouble {
  static readonly systems = new Map<string, RfcSystemDouble>();

  /** Creates (or replaces) the system reachable as `dest: name` / `ashost: name`. */
  static create(name = 'DOUBLE', init: Partial<Pick<RfcSystemDouble, 'password' | 'unknownMaterials' | 'stock'>> = {}): RfcSystemDouble {
    const s = new RfcSystemDouble(name);
    Object.assign(s, init);
    RfcSystemDouble.systems.set(name, s);
    return s;
  }

  readonly name: string;
  readonly committed: CommittedDoc[] = [];
  readonly postingsPerKey = new Map<string, number>();
  readonly tables = new Map<string, TableDef>();
  readonly functions = new Map<string, Handler>();
  readonly script: ScriptStep[] = [];
  readonly calls: string[] = [];
  unknownMaterials: string[] = [];
  stock: Map<string, number> | undefined;
  /** Logon password (when set, `passwd` must match). */
  password: string | undefined;
  /** open() fails with RFC_COMMUNICATION_FAILURE. */
  down = false;
  openSessions = 0;
  #next = 4_900_000_000;

  constructor(name: string) {
    this.name = name;
  }

  /** Keys (HEADER_TXT, else REF_DOC_NO) committed more than once. */
  duplicates(): string[] {
    return [...this.postingsPerKey].filter(([, n]) => n > 1).map(([k]) => k);
  }

  #fault(fn: string, params: Record<string, any>): RfcFault | undefined {
    const i = this.script.findIndex((s) => s.fn === fn && (!s.when || s.when(params)));
    if (i < 0) return undefined;
    return this.script.splice(i, 1)[0].fault;
  }

  /** Runs one function module for a session; faults are applied by the client. */
  run(fn: string, params: Record<string, any>, session: Client, fault: RfcFault | undefined): Record<string, any> {
    this.calls.push(fn);
    const custom = this.functions.get(fn);
    if (custom) return custom(params, session);
    switch (fn) {
      case 'BAPI_GOODSMVT_CREATE':
        return this.#create(params, session, fault);
      case 'BAPI_TRANSACTION_COMMIT': {
        if (fault === 'commit-error') {
          session.luw.length = 0;
          return { RETURN: bapiret('E', 'M7', '200', 'Update was terminated (posting not saved)') };
        }
        for (const d of session.luw.splice(0)) this.#commit(d);
        return { RETURN: bapiret('', '', '000', '') };
      }
      case 'BAPI_TRANSACTION_ROLLBACK':
        session.luw.length = 0;
        return { RETURN: bapiret('', '', '000', '') };
      case 'RFC_READ_TABLE':
        return this.#readTable(params);
      case 'RFC_PING':
        return {};
      default:
        throw abapError('FU_NOT_FOUND', `Function module "${fn}" not found`);
    }
  }

  takeFault(fn: string, params: Record<string, any>): RfcFault | undefined {
    return this.#fault(fn, params);
  }

  #create(params: Record<string, any>, session: Client, fault: RfcFault | undefined): Record<string, any> {
    const header = (params.GOODSMVT_HEADER ?? {}) as Record<string, string>;
    const code = String(params.GOODSMVT_CODE?.GM_CODE ?? '');
    const items = (params.GOODSMVT_ITEM ?? []) as Array<Record<string, string>>;
    const fail = (type: 'E' | 'A', id: string, num: string, msg: string, field = '') => ({
      MATERIALDOCUMENT: '',
      MATDOCUMENTYEAR: '0000',
      GOODSMVT_HEADRET: { MAT_DOC: '', DOC_YEAR: '0000' },
      RETURN: [{ ...bapiret(type, id, num, msg), FIELD: field, PARAMETER: field ? 'GOODSMVT_ITEM' : '', ROW: 0 }],
    });
    if (fault === 'business-error') return fail('E', 'M7', '021', 'Deficit of SL Unrestricted-use (scripted)');
    if (fault === 'business-abort') return fail('A', 'M3', '897', 'The material is locked by another user (scripted)');
    if (!/^0[1-7]$/.test(code)) return fail('E', 'M7', '895', `Goods movement code ${code} is not valid`);
    if (!/^\d{8}$/.test(header.PSTNG_DATE ?? '')) return fail('E', 'M7', '073', 'Enter a posting date');
    if ((header.HEADER_TXT ?? '').length > 25) return fail('E', 'BAPI', '001', 'HEADER_TXT longer than 25 characters');
    if (items.length === 0) return fail('E', 'M7', '099', 'Enter at least one item');
    for (const it of items) {
      const mat = it.MATERIAL ?? it.MATERIAL_LONG ?? '';
      if (!mat) return fail('E', 'M7', '018', 'Enter a material', 'MATERIAL');
      if (/^\d+$/.test(mat) && mat.length !== 18) return fail('E', 'M3', '305', `The material ${mat} does not exist (RFC passes internal numbers: pad to 18 digits)`, 'MATERIAL');
      if (this.unknownMaterials.includes(mat)) return fail('E', 'M3', '305', `The material ${mat.replace(/^0+/, '')} does not exist or is not activated`, 'MATERIAL');
      if (!(Number(it.ENTRY_QNT) > 0)) return fail('E', 'M7', '060', 'Enter a quantity', 'ENTRY_QNT');
      if (this.stock && ISSUES.has(it.MOVE_TYPE)) {
        const have = this.stock.get(`${mat}/${it.PLANT}/${it.STGE_LOC}`) ?? 0;
        if (have < Number(it.ENTRY_QNT))
          return fail('E', 'M7', '021', `Deficit of SL Unrestricted-use ${Number(it.ENTRY_QNT) - have} ${it.ENTRY_UOM ?? ''} : ${mat.replace(/^0+/, '')} ${it.PLANT} ${it.STGE_LOC}`);
      }
    }
    const year = header.PSTNG_DATE.slice(0, 4);
    const doc: PendingDoc = {
      MBLNR: String(this.#next++),
      MJAHR: year,
      BKTXT: header.HEADER_TXT ?? '',
      XBLNR: header.REF_DOC_NO ?? '',
      BUDAT: header.PSTNG_DATE,
      gmCode: code,
      items,
    };
    session.luw.push(doc);
    return {
      MATERIALDOCUMENT: doc.MBLNR,
      MATDOCUMENTYEAR: year,
      GOODSMVT_HEADRET: { MAT_DOC: doc.MBLNR, DOC_YEAR: year },
      RETURN: [],
    };
  }

  #commit(d: CommittedDoc): void {
    this.committed.push(d);
    const key = d.BKTXT || d.XBLNR;
    this.postingsPerKey.set(key, (this.postingsPerKey.get(key) ?? 0) + 1);
    if (this.stock)
      for (const it of d.items) {
        const k = `${it.MATERIAL ?? it.MATERIAL_LONG}/${it.PLANT}/${it.STGE_LOC}`;
        this.stock.set(k, (this.stock.get(k) ?? 0) + Number(it.ENTRY_QNT) * (ISSUES.has(it.MOVE_TYPE) ? -1 : 1));
      }
  }

  #table(name: string): TableDef | undefined {
    if (name === 'MKPF')
      return {
        fields: [
          ['MBLNR', 10],
          ['MJAHR', 4],
          ['BUDAT', 8],
          ['BKTXT', 25],
          ['XBLNR', 16],
        ],
        rows: this.committed.map((d) => ({ MBLNR: d.MBLNR, MJAHR: d.MJAHR, BUDAT: d.BUDAT, BKTXT: d.BKTXT, XBLNR: d.XBLNR })),
      };
    return this.tables.get(name);
  }

  #readTable(p: Record<string, any>): Record<string, any> {
    const t = this.#table(String(p.QUERY_TABLE ?? '').trim());
    if (!t) throw abapError('TABLE_NOT_AVAILABLE', `Table ${p.QUERY_TABLE} is not available`);
    const wanted = ((p.FIELDS ?? []) as Array<{ FIELDNAME: string }>).map((f) => f.FIELDNAME.trim());
    const fields = wanted.length ? wanted.map((n) => t.fields.find(([f]) => f === n) ?? n) : t.fields;
    const defs: Array<[string, number]> = [];
    for (const f of fields) {
      if (typeof f === 'string') throw abapError('FIELD_NOT_VALID', `Field ${f} is not in table ${p.QUERY_TABLE}`);
      defs.push(f);
    }
    const where = ((p.OPTIONS ?? []) as Array<{ TEXT: string }>).map((o) => o.TEXT).join(' ').trim();
    const conds: Array<[string, string]> = [];
    if (where)
      for (const part of where.split(/\s+AND\s+/i)) {
        const m = /^\s*\(?\s*(\w+)\s*=\s*'((?:[^']|'')*)'\s*\)?\s*$/.exec(part);
        if (!m) throw abapError('OPTION_NOT_VALID', `Selection criterion not supported by the double: ${part}`);
        conds.push([m[1], m[2].replaceAll("''", "'")]);
      }
    const delim = String(p.DELIMITER ?? '');
    let rows = t.rows.filter((r) => conds.every(([f, v]) => (r[f] ?? '').trim() === v));
    const skip = Number(p.ROWSKIPS ?? 0);
    const count = Number(p.ROWCOUNT ?? 0);
    rows = rows.slice(skip, count > 0 ? skip + count : undefined);
    let offset = 0;
    const FIELDS = defs.map(([n, len]) => {
      const f = { FIELDNAME: n, OFFSET: String(offset).padStart(6, '0'), LENGTH: String(len).padStart(6, '0'), TYPE: 'C', FIELDTEXT: n };
      offset += len + delim.length;
      return f;
    });
    const DATA = p.NO_DATA === 'X' ? [] : rows.map((r) => ({ WA: defs.map(([n, len]) => (r[n] ?? '').padEnd(len).slice(0, len)).join(delim) }));
    return { FIELDS, DATA, OPTIONS: p.OPTIONS ?? [] };
  }
}

function bapiret(type: string, id: string, number: string, message: string): Record<string, unknown> {
  return { TYPE: type, ID: id, NUMBER: number, MESSAGE: message, LOG_NO: '', LOG_MSG_NO: '000000', MESSAGE_V1: '', MESSAGE_V2: '', MESSAGE_V3: '', MESSAGE_V4: '', PARAMETER: '', ROW: 0, FIELD: '', SYSTEM: 'S4HCLNT100' };
}

let clientIds = 0;

/** node-rfc's Client surface, backed by an RfcSystemDouble. */
export class Client {
  readonly connectionParameters: Record<string, string>;
  readonly clientOptions: Record<string, unknown>;
  readonly id = ++clientIds;
  /** Documents created in this session and not committed yet. */
  readonly luw: PendingDoc[] = [];
  #alive = false;
  #system: RfcSystemDouble | undefined;

  constructor(connectionParameters: Record<string, string>, clientOptions: Record<string, unknown> = {}) {
    this.connectionParameters = connectionParameters;
    this.clientOptions = clientOptions;
  }

  get alive(): boolean {
    return this.#alive;
  }

  get connectionInfo(): Record<string, string> {
    return { sysId: this.#system?.name ?? '', client: this.connectionParameters.client ?? '100', user: this.connectionParameters.user ?? '' };
  }

  async open(): Promise<this> {
    const p = this.connectionParameters;
    const target = p.dest ?? p.ashost ?? p.mshost;
    if (!target) throw rfcLibError('RFC_INVALID_PARAMETER', 'Parameter ASHOST, GWHOST, MSHOST or PORT is missing.');
    const s = RfcSystemDouble.systems.get(target);
    if (!s || s.down) throw rfcLibError('RFC_COMMUNICATION_FAILURE', `partner '${target}:sapgw00' not reached`);
    if (s.password !== undefined && p.passwd !== s.password) throw rfcLibError('RFC_LOGON_FAILURE', 'Name or password is incorrect (repeat logon)');
    await tick();
    this.#system = s;
    this.#alive = true;
    s.openSessions++;
    return this;
  }

  async close(): Promise<void> {
    if (!this.#alive) return;
    this.#lose();
  }

  /** The session ends: its uncommitted LUW is gone. */
  #lose(): void {
    this.luw.length = 0;
    if (this.#alive && this.#system) this.#system.openSessions--;
    this.#alive = false;
  }

  async ping(): Promise<boolean> {
    return this.#alive;
  }

  async resetServerContext(): Promise<void> {
    this.luw.length = 0;
  }

  async call(fn: string, params: Record<string, any> = {}, options: { timeout?: number } = {}): Promise<Record<string, any>> {
    if (!this.#alive || !this.#system) throw { name: 'nodeRfcError', message: `RFM client request over closed connection: invoke() ${fn}` };
    const s = this.#system;
    const fault = s.takeFault(fn, params);
    await tick();
    const timeout = options.timeout ?? (this.clientOptions.timeout as number | undefined) ?? 0;
    if (fault === 'session-loss-before') {
      this.#lose();
      throw rfcLibError('RFC_COMMUNICATION_FAILURE', 'connection to partner broken');
    }
    if (fault === 'timeout-before') {
      this.#lose();
      throw rfcLibError('RFC_CANCELED', `Connection canceled by client after ${timeout} s timeout`);
    }
    const result = s.run(fn, structuredClone(params), this, fault);
    if (fault === 'session-loss-after') {
      this.#lose();
      throw rfcLibError('RFC_COMMUNICATION_FAILURE', 'connection to partner broken');
    }
    if (fault === 'timeout-after') {
      this.#lose();
      throw rfcLibError('RFC_CANCELED', `Connection canceled by client after ${timeout} s timeout`);
    }
    return result;
  }
}

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export default { Client };
