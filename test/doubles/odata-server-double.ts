/**
 * TEST DOUBLE — a local HTTP server speaking the contract of S/4HANA's OData V2 service API_MATERIAL_DOCUMENT_SRV,
 * as far as the `sap-posting` sink uses it. Not SAP: it reproduces the behaviour the sink must handle.
 *
 *  - CSRF: `GET …` with `X-CSRF-Token: Fetch` returns a token and session cookies (SAP_SESSIONID_…, sap-usercontext);
 *    a POST without the session's valid token gets 403 with `x-csrf-token: Required`. `expireSessions()` drops every
 *    session (as an SAP session timeout does).
 *  - Optional basic authentication (401 without it).
 *  - Deep insert `POST …/A_MaterialDocumentHeader` with `to_MaterialDocumentItem.results`: validates the payload and
 *    returns 201 with MaterialDocument / MaterialDocumentYear; a material in `unknownMaterials` or a stock deficit (when
 *    `stock` is set) answers 400 with SAP's error JSON `{"error":{"code","message":{"lang","value"},"innererror":{…}}}`.
 *  - `GET …/A_MaterialDocumentHeader?$filter=MaterialDocumentHeaderText eq '…'` (or ReferenceDocument) for lookups.
 *  - Scripted faults per POST (`script`): timeout after posting (the document exists, the answer never comes in time),
 *    timeout before posting, connection reset after posting, HTTP 500/503.
 *  - Counts postings per key (MaterialDocumentHeaderText), so tests can assert "no duplicates".
 *
 * Runs in-process (tests) or as a child process: `node test/doubles/odata-server-double.ts [port]` prints its URL and
 * answers `GET /__double/stats` with the counts.
 */
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const SERVICE_PATH = '/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV';

export type Fault = 'timeout-after-post' | 'timeout-before-post' | 'reset-after-post' | 'http-500-after-post' | 'http-503';

export interface ODataDoubleOptions {
  port?: number;
  user?: string;
  password?: string;
  /** Materials SAP does not know: the deep insert is refused with M7/... error JSON. */
  unknownMaterials?: string[];
  /** Unrestricted stock per `material/plant/sloc`; when set, issues beyond it are refused (M7/021 deficit). */
  stock?: Map<string, number>;
  /** Answer delay in ms (each request). */
  latencyMs?: number;
  /** How long a "timeout" holds the answer (longer than the client's timeout). */
  hangMs?: number;
}

export interface PostedDoc {
  MaterialDocument: string;
  MaterialDocumentYear: string;
  MaterialDocumentHeaderText: string;
  ReferenceDocument: string;
  GoodsMovementCode: string;
  PostingDate: string;
  items: Array<Record<string, string>>;
}

interface Session {
  token: string;
}

/** Issue movement types: the stock goes down (used by the deficit check). */
const ISSUES = new Set(['201', '221', '251', '261', '311', '301', '551', '601', '122', '102', '702']);

export class ODataServerDouble {
  readonly o: ODataDoubleOptions;
  readonly server: http.Server;
  readonly documents: PostedDoc[] = [];
  /** Postings per key (MaterialDocumentHeaderText): a key with 2+ is a duplicate posting. */
  readonly postingsPerKey = new Map<string, number>();
  /** Faults applied to the next POSTs (FIFO); a function decides per request. */
  readonly script: Array<Fault | ((body: Record<string, any>) => Fault | undefined)> = [];
  /** Counters of requests seen. */
  readonly requests = { tokenFetch: 0, post: 0, lookup: 0, rejectedToken: 0, inFlight: 0, maxInFlight: 0 };
  readonly #sessions = new Map<string, Session>();
  readonly #hanging = new Set<ServerResponse>();
  #next = 4_900_000_000;
  url = '';

  constructor(o: ODataDoubleOptions = {}) {
    this.o = o;
    this.server = http.createServer((req, res) => {
      this.#handle(req, res).catch((err: Error) => {
        if (!res.headersSent) this.#json(res, 500, sapErrorJson('/IWBEP/CM_MGW_RT/000', `double: ${err.message}`));
      });
    });
    this.server.keepAliveTimeout = 60_000;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(this.o.port ?? 0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${SERVICE_PATH}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const r of this.#hanging) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Every session ends (SAP session timeout): the next POST is refused with 403 x-csrf-token: Required. */
  expireSessions(): void {
    this.#sessions.clear();
  }

  /** Keys posted more than once. */
  duplicates(): string[] {
    return [...this.postingsPerKey].filter(([, n]) => n > 1).map(([k]) => k);
  }

  stats(): { documents: number; keys: number; duplicates: string[]; requests: ODataServerDouble['requests'] } {
    return { documents: this.documents.length, keys: this.postingsPerKey.size, duplicates: this.duplicates(), requests: this.requests };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    if (req.method === 'POST') {
      const r = this.requests;
      r.maxInFlight = Math.max(r.maxInFlight, ++r.inFlight);
      res.once('close', () => r.inFlight--);
    }
    const body = await readBody(req);
    if (this.o.latencyMs) await new Promise((r) => setTimeout(r, this.o.latencyMs));
    if (url.pathname === '/__double/stats') return this.#json(res, 200, this.stats());
    if (!url.pathname.startsWith(SERVICE_PATH)) return this.#json(res, 404, sapErrorJson('/IWFND/MED/170', `No service found for namespace '', name '${url.pathname}'`));
    if (this.o.user !== undefined) {
      const want = `Basic ${Buffer.from(`${this.o.user}:${this.o.password ?? ''}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="SAP NetWeaver Application Server"', 'content-type': 'text/html' });
        return void res.end('<html><body>Logon failed</body></html>');
      }
    }
    const entity = url.pathname.slice(SERVICE_PATH.length).replace(/^\//, '');
    const cookies = parseCookies(req.headers.cookie);
    if (req.method === 'GET') {
      let headers: Record<string, string | string[]> = {};
      if (String(req.headers['x-csrf-token'] ?? '').toLowerCase() === 'fetch') {
        this.requests.tokenFetch++;
        const sid = randomBytes(12).toString('hex');
        const token = randomBytes(16).toString('base64');
        this.#sessions.set(sid, { token });
        headers = {
          'x-csrf-token': token,
          'set-cookie': [`SAP_SESSIONID_S4H_100=${sid}; path=/; HttpOnly`, 'sap-usercontext=sap-client=100; path=/'],
        };
      }
      if (entity === '' || entity === '$metadata') return this.#json(res, 200, { d: { EntitySets: ['A_MaterialDocumentHeader', 'A_MaterialDocumentItem'] } }, headers);
      if (entity === 'A_MaterialDocumentHeader') {
        const filter = url.searchParams.get('$filter');
        let docs = this.documents;
        if (filter) {
          this.requests.lookup++;
          const m = /^(MaterialDocumentHeaderText|ReferenceDocument) eq '((?:[^']|'')*)'$/.exec(filter);
          if (!m) return this.#json(res, 400, sapErrorJson('/IWBEP/CM_MGW_RT/022', `Invalid filter expression: '${filter}'`));
          const v = m[2].replaceAll("''", "'");
          docs = docs.filter((d) => d[m[1] as 'ReferenceDocument'] === v);
        }
        const top = url.searchParams.get('$top');
        if (top !== null) docs = docs.slice(0, Number(top));
        return this.#json(res, 200, { d: { results: docs.map((d) => headerJson(d, url)) } }, headers);
      }
      return this.#json(res, 404, sapErrorJson('/IWBEP/CM_MGW_RT/021', `Resource not found for segment '${entity}'`), headers);
    }
    if (req.method === 'POST' && entity === 'A_MaterialDocumentHeader') {
      this.requests.post++;
      const session = this.#sessions.get(cookies.SAP_SESSIONID_S4H_100 ?? '');
      if (!session || req.headers['x-csrf-token'] !== session.token) {
        this.requests.rejectedToken++;
        res.writeHead(403, { 'x-csrf-token': 'Required', 'content-type': 'text/plain' });
        return void res.end('CSRF token validation failed');
      }
      let payload: Record<string, any>;
      try {
        payload = JSON.parse(body);
      } catch {
        return this.#json(res, 400, sapErrorJson('/IWBEP/CM_MGW_RT/004', 'Malformed request body: JSON expected'));
      }
      const next = this.script.shift();
      const fault = typeof next === 'function' ? next(payload) : next;
      if (fault === 'http-503') return this.#json(res, 503, { error: 'Service Unavailable' });
      if (fault === 'timeout-before-post') return this.#hang(res);
      const problem = this.#validate(payload);
      if (problem) return this.#json(res, 400, problem);
      const doc = this.#post(payload);
      if (fault === 'timeout-after-post') return this.#hang(res);
      if (fault === 'reset-after-post') return void req.socket.destroy();
      if (fault === 'http-500-after-post') return this.#json(res, 500, sapErrorJson('/IWBEP/CM_MGW_RT/000', 'Runtime error: connection to the backend lost'));
      return this.#json(res, 201, { d: headerJson(doc, url) }, { location: `${SERVICE_PATH}/A_MaterialDocumentHeader(MaterialDocumentYear='${doc.MaterialDocumentYear}',MaterialDocument='${doc.MaterialDocument}')` });
    }
    return this.#json(res, 405, sapErrorJson('/IWBEP/CM_MGW_RT/014', `Method ${req.method} not allowed`));
  }

  #validate(p: Record<string, any>): Record<string, unknown> | undefined {
    if (!/^0[1-7]$/.test(String(p.GoodsMovementCode ?? ''))) return sapErrorJson('M7/895', `Goods movement code ${p.GoodsMovementCode ?? ''} is not valid`);
    if (!/^\/Date\(\d+\)\/$/.test(String(p.PostingDate ?? ''))) return sapErrorJson('/IWBEP/CM_MGW_RT/004', 'Property PostingDate has invalid value');
    const header = String(p.MaterialDocumentHeaderText ?? '');
    if (header.length > 25) return sapErrorJson('/IWBEP/CM_MGW_RT/004', 'Property MaterialDocumentHeaderText exceeds 25 characters');
    const items = p.to_MaterialDocumentItem?.results;
    if (!Array.isArray(items) || items.length === 0) return sapErrorJson('M7/099', 'Enter at least one item');
    for (const it of items as Array<Record<string, string>>) {
      for (const k of ['Material', 'Plant', 'StorageLocation', 'GoodsMovementType', 'QuantityInEntryUnit', 'EntryUnit'])
        if (!it[k]) return sapErrorJson('/IWBEP/CM_MGW_RT/004', `Property ${k} is required`);
      if (!(Number(it.QuantityInEntryUnit) > 0)) return sapErrorJson('M7/060', 'Enter a quantity greater than zero');
      if (this.o.unknownMaterials?.includes(it.Material))
        return sapErrorJson('M3/305', `The material ${it.Material.replace(/^0+/, '')} does not exist or is not activated`, `to_MaterialDocumentItem/Material`);
      if (this.o.stock && ISSUES.has(it.GoodsMovementType)) {
        const k = `${it.Material}/${it.Plant}/${it.StorageLocation}`;
        const have = this.o.stock.get(k) ?? 0;
        if (have < Number(it.QuantityInEntryUnit))
          return sapErrorJson('M7/021', `Deficit of SL Unrestricted-use ${Number(it.QuantityInEntryUnit) - have} ${it.EntryUnit} : ${it.Material.replace(/^0+/, '')} ${it.Plant} ${it.StorageLocation}`);
      }
    }
    return undefined;
  }

  #post(p: Record<string, any>): PostedDoc {
    const items = p.to_MaterialDocumentItem.results as Array<Record<string, string>>;
    if (this.o.stock)
      for (const it of items) {
        const k = `${it.Material}/${it.Plant}/${it.StorageLocation}`;
        const d = Number(it.QuantityInEntryUnit) * (ISSUES.has(it.GoodsMovementType) ? -1 : 1);
        this.o.stock.set(k, (this.o.stock.get(k) ?? 0) + d);
      }
    const ms = Number(/\d+/.exec(String(p.PostingDate))![0]);
    const doc: PostedDoc = {
      MaterialDocument: String(this.#next++),
      MaterialDocumentYear: String(new Date(ms).getUTCFullYear()),
      MaterialDocumentHeaderText: String(p.MaterialDocumentHeaderText ?? ''),
      ReferenceDocument: String(p.ReferenceDocument ?? ''),
      GoodsMovementCode: String(p.GoodsMovementCode),
      PostingDate: String(p.PostingDate),
      items,
    };
    this.documents.push(doc);
    const key = doc.MaterialDocumentHeaderText || doc.ReferenceDocument;
    this.postingsPerKey.set(key, (this.postingsPerKey.get(key) ?? 0) + 1);
    return doc;
  }

  #hang(res: ServerResponse): void {
    this.#hanging.add(res);
    setTimeout(() => {
      this.#hanging.delete(res);
      res.destroy();
    }, this.o.hangMs ?? 60_000).unref();
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }
}

/** SAP Gateway error JSON. */
export function sapErrorJson(code: string, message: string, target = ''): Record<string, unknown> {
  return {
    error: {
      code,
      message: { lang: 'en', value: message },
      innererror: {
        application: { component_id: 'MM-IM-GF', service_namespace: '/SAP/', service_id: 'API_MATERIAL_DOCUMENT_SRV', service_version: '0001' },
        transactionid: randomBytes(16).toString('hex').toUpperCase(),
        timestamp: new Date().toISOString().replace(/\D/g, '').slice(0, 14),
        errordetails: [{ code, message, propertyref: '', severity: 'error', target }],
      },
    },
  };
}

function headerJson(d: PostedDoc, url: URL): Record<string, unknown> {
  const uri = `${url.origin}${SERVICE_PATH}/A_MaterialDocumentHeader(MaterialDocumentYear='${d.MaterialDocumentYear}',MaterialDocument='${d.MaterialDocument}')`;
  return {
    __metadata: { id: uri, uri, type: 'API_MATERIAL_DOCUMENT_SRV.A_MaterialDocumentHeaderType' },
    MaterialDocumentYear: d.MaterialDocumentYear,
    MaterialDocument: d.MaterialDocument,
    GoodsMovementCode: d.GoodsMovementCode,
    PostingDate: d.PostingDate,
    MaterialDocumentHeaderText: d.MaterialDocumentHeaderText,
    ReferenceDocument: d.ReferenceDocument,
  };
}

function parseCookies(h: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (h ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// As a child process: `node test/doubles/odata-server-double.ts [port]`
if (import.meta.main) {
  const d = await new ODataServerDouble({ port: Number(process.argv[2] ?? 0) }).start();
  process.stdout.write(`${d.url}\n`);
}
