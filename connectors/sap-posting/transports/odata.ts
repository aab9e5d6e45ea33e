/**
 * S/4HANA OData V2 `API_MATERIAL_DOCUMENT_SRV`: one deep insert (header + to_MaterialDocumentItem) per posting.
 *
 *  - CSRF: `GET …/A_MaterialDocumentHeader?$top=0` with `X-CSRF-Token: Fetch` gives a token bound to the session
 *    cookies it sets; every POST carries both. A 403 with `x-csrf-token: Required` (expired session) refetches once.
 *  - Outcomes: 201 → posted (MaterialDocument, MaterialDocumentYear); 400-class with SAP's error JSON → rejected with its
 *    messages; no connection → not sent; a timeout, reset or 5xx after the request went out → uncertain.
 *  - Lookup of an uncertain key: `$filter=MaterialDocumentHeaderText eq '<key>'` (or ReferenceDocument).
 *
 * Plain node:http(s) with keep-alive agents: the outcome of a request must be classified exactly (was it sent?).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { odataDate } from '../../sap/values.ts';
import type { PostedDocument, Posting, PostResult, SapMessage, Transport } from '../posting.ts';

export interface ODataOptions {
  /** Service root, e.g. https://s4.example.com/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV */
  url: string;
  user?: string;
  password?: string;
  /** sap-client query parameter. */
  client?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Connections kept open to the service. */
  maxSockets?: number;
  /** Accept self-signed certificates (test systems only). */
  insecure?: boolean;
}

interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

class RequestError extends Error {
  /** The request may have reached the server. */
  readonly sent: boolean;
  constructor(message: string, sent: boolean) {
    super(message);
    this.sent = sent;
  }
}

const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID']);

export class ODataTransport implements Transport {
  readonly name = 'odata';
  readonly #o: ODataOptions;
  readonly #base: URL;
  readonly #agent: http.Agent;
  readonly #lib: typeof http | typeof https;
  readonly #cookies = new Map<string, string>();
  #token: string | undefined;
  #fetching: Promise<void> | undefined;

  constructor(o: ODataOptions) {
    this.#o = o;
    this.#base = new URL(o.url.endsWith('/') ? o.url : `${o.url}/`);
    const https_ = this.#base.protocol === 'https:';
    this.#lib = https_ ? https : http;
    const agentOpts = { keepAlive: true, maxSockets: o.maxSockets ?? 8 };
    this.#agent = https_ ? new https.Agent({ ...agentOpts, rejectUnauthorized: !o.insecure }) : new http.Agent(agentOpts);
  }

  #url(path: string, query: Record<string, string> = {}): URL {
    const u = new URL(path, this.#base);
    if (this.#o.client) u.searchParams.set('sap-client', this.#o.client);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  #request(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<Response> {
    const h: Record<string, string> = { Accept: 'application/json', ...(this.#o.headers ?? {}), ...headers };
    if (this.#o.user !== undefined) h.Authorization = `Basic ${Buffer.from(`${this.#o.user}:${this.#o.password ?? ''}`).toString('base64')}`;
    if (this.#cookies.size) h.Cookie = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) {
      h['Content-Type'] = 'application/json';
      h['Content-Length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolve, reject) => {
      let connected = false;
      const req = this.#lib.request(url, { method, headers: h, agent: this.#agent, timeout: this.#o.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          this.#keepCookies(res.headers['set-cookie']);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => reject(new RequestError(`response broken: ${err.message}`, true)));
      });
      req.on('socket', (s) => {
        // a kept-alive socket is connected already; a new one counts once TCP is up (conservative: "may be sent")
        if (!s.connecting) connected = true;
        else s.once('connect', () => (connected = true));
      });
      req.on('timeout', () => req.destroy(new RequestError(`no answer within ${this.#o.timeoutMs ?? 30_000} ms`, true)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof RequestError) reject(connected ? err : new RequestError(`cannot connect: ${err.message}`, false));
        else reject(new RequestError(`${err.code ?? 'error'}: ${err.message}`, connected && !NOT_CONNECTED.has(err.code ?? '')));
      });
      req.end(body);
    });
  }

  #keepCookies(set: string[] | undefined): void {
    for (const c of set ?? []) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      if (i > 0) this.#cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  }

  /** Fetches a CSRF token (one fetch at a time; concurrent posts wait for it). */
  #fetchToken(): Promise<void> {
    this.#fetching ??= (async () => {
      try {
        const r = await this.#request('GET', this.#url('A_MaterialDocumentHeader', { $top: '0' }), { 'X-CSRF-Token': 'Fetch' });
        const token = r.headers['x-csrf-token'];
        if (r.status === 401 || r.status === 403) throw new FatalError(`CSRF token fetch refused (HTTP ${r.status}): check user and password`);
        if (r.status === 404) throw new FatalError(`service not found (HTTP 404) at ${this.#base.href}`);
        if (r.status >= 300 || typeof token !== 'string' || token === '' || token.toLowerCase() === 'required')
          throw new RequestError(`CSRF token fetch failed: HTTP ${r.status}${sapError(r.body) ? `: ${messagesOf(r.body)[0]?.message}` : ''}`, false);
        this.#token = token;
      } finally {
        this.#fetching = undefined;
      }
    })();
    return this.#fetching;
  }

  async post(p: Posting): Promise<PostResult> {
    const body = JSON.stringify(deepInsert(p));
    for (let attempt = 0; ; attempt++) {
      try {
        if (!this.#token) await this.#fetchToken();
      } catch (err) {
        if (err instanceof FatalError) return { kind: 'not-sent', error: err.message, fatal: true };
        return { kind: 'not-sent', error: (err as Error).message };
      }
      const token = this.#token!;
      let r: Response;
      try {
        r = await this.#request('POST', this.#url('A_MaterialDocumentHeader'), { 'X-CSRF-Token': token }, body);
      } catch (err) {
        const e = err as RequestError;
        return e.sent ? { kind: 'uncertain', error: e.message } : { kind: 'not-sent', error: e.message };
      }
      if (r.status === 201 || r.status === 200) {
        const d = parseJson(r.body)?.d as Record<string, string> | undefined;
        if (!d?.MaterialDocument) return { kind: 'uncertain', error: `HTTP ${r.status} without MaterialDocument in the answer` };
        return { kind: 'posted', materialDocument: d.MaterialDocument, year: String(d.MaterialDocumentYear ?? '') };
      }
      if (r.status === 403 && String(r.headers['x-csrf-token'] ?? '').toLowerCase() === 'required') {
        // token or session expired: the request was refused before processing
        if (this.#token === token) this.#token = undefined;
        if (attempt < 2) continue;
        return { kind: 'not-sent', error: 'CSRF token refused twice' };
      }
      if (r.status === 401) return { kind: 'not-sent', error: 'HTTP 401: logon refused (user, password)', fatal: true };
      if (r.status === 404 && !sapError(r.body)) return { kind: 'not-sent', error: `HTTP 404: service not found at ${this.#base.href}`, fatal: true };
      if (r.status === 429 || r.status === 503) return { kind: 'not-sent', error: `HTTP ${r.status}: ${firstMessage(r.body)}` };
      if (r.status >= 400 && r.status < 500 && sapError(r.body)) return { kind: 'rejected', messages: messagesOf(r.body) };
      return { kind: 'uncertain', error: `HTTP ${r.status}: ${firstMessage(r.body)}` };
    }
  }

  async lookup(p: Posting): Promise<PostedDocument | null> {
    const field = p.keyField === 'headerText' ? 'MaterialDocumentHeaderText' : 'ReferenceDocument';
    const r = await this.#request(
      'GET',
      this.#url('A_MaterialDocumentHeader', {
        $filter: `${field} eq '${p.key.replaceAll("'", "''")}'`,
        $select: 'MaterialDocument,MaterialDocumentYear',
        $format: 'json',
      }),
      {},
    ).catch((err: Error) => {
      throw new Error(err.message);
    });
    if (r.status !== 200) throw new Error(`lookup failed: HTTP ${r.status}: ${firstMessage(r.body)}`);
    const d = parseJson(r.body)?.d as { results?: Array<Record<string, string>> } | undefined;
    if (!Array.isArray(d?.results)) throw new Error('lookup answer has no d.results');
    const hit = d.results[0];
    return hit ? { materialDocument: hit.MaterialDocument, year: String(hit.MaterialDocumentYear) } : null;
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}

class FatalError extends Error {}

/** The deep-insert payload (A_MaterialDocumentHeader with to_MaterialDocumentItem). */
export function deepInsert(p: Posting): Record<string, unknown> {
  const h: Record<string, unknown> = {
    GoodsMovementCode: p.gmCode,
    PostingDate: odataDate(p.header.postingDate),
    DocumentDate: odataDate(p.header.documentDate),
  };
  if (p.header.headerText) h.MaterialDocumentHeaderText = p.header.headerText;
  if (p.header.referenceDocument) h.ReferenceDocument = p.header.referenceDocument;
  h.to_MaterialDocumentItem = {
    results: p.items.map((i) => {
      const it: Record<string, unknown> = {
        Material: i.material,
        Plant: i.plant,
        StorageLocation: i.storageLocation,
        GoodsMovementType: i.movementType,
        QuantityInEntryUnit: i.quantity,
        EntryUnit: i.unit,
      };
      if (i.batch) it.Batch = i.batch;
      if (i.stockType) it.InventoryStockType = i.stockType;
      if (i.specialStock) it.InventorySpecialStockType = i.specialStock;
      if (i.moveReason) it.GoodsMovementReasonCode = i.moveReason;
      if (i.costCenter) it.CostCenter = i.costCenter;
      if (i.itemText) it.MaterialDocumentItemText = i.itemText;
      if (i.movePlant) it.IssuingOrReceivingPlant = i.movePlant;
      if (i.moveStorageLocation) it.IssuingOrReceivingStorageLoc = i.moveStorageLocation;
      if (i.moveMaterial) it.IssgOrRcvgMaterial = i.moveMaterial;
      if (i.moveBatch) it.IssgOrRcvgBatch = i.moveBatch;
      return it;
    }),
  };
  return h;
}

function parseJson(s: string): Record<string, any> | undefined {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function sapError(body: string): boolean {
  const j = parseJson(body);
  return typeof j?.error?.message?.value === 'string' || typeof j?.error?.message === 'string';
}

/** SAP's error JSON → messages: the main message, then innererror.errordetails (without repeating it). */
export function messagesOf(body: string): SapMessage[] {
  const e = parseJson(body)?.error;
  if (!e) return [{ type: 'E', message: body.slice(0, 300) }];
  const split = (code: unknown): { id?: string; number?: string } => {
    const m = /^(.+)\/(\d{3})$/.exec(String(code ?? ''));
    return m ? { id: m[1], number: m[2] } : code ? { id: String(code) } : {};
  };
  const main: SapMessage = { type: 'E', ...split(e.code), message: String(e.message?.value ?? e.message ?? '') };
  const out = [main];
  for (const d of (e.innererror?.errordetails ?? []) as Array<Record<string, string>>) {
    if (d.message === main.message && d.code === e.code) continue;
    const m: SapMessage = { type: d.severity === 'error' ? 'E' : d.severity === 'warning' ? 'W' : d.severity === 'info' ? 'I' : 'E', ...split(d.code), message: d.message };
    if (d.target) m.field = d.target;
    out.push(m);
  }
  return out;
}

function firstMessage(body: string): string {
  return sapError(body) ? messagesOf(body)[0].message : body.replace(/\s+/g, ' ').slice(0, 200);
}
