/** `sap-posting`: canonical events → SAP stock postings, exactly once (outbox), over RFC, OData or IDoc-XML files. */
import { resolve } from 'node:path';
import { ConfigError, type JsonSchema, type SinkSpec } from '../../runtime/contracts/spi.ts';
import { PostingOutbox } from './outbox.ts';
import type { Transport } from './posting.ts';
import { PostingQueue, type QueueOptions, queueName } from './queue.ts';
import { PostingRules, type RulesConfig } from './rules.ts';
import { SapPostingSink } from './sink.ts';
import { type IdocXmlOptions, IdocXmlTransport } from './transports/idoc-xml.ts';
import { type ODataOptions, ODataTransport } from './transports/odata.ts';
import { type RfcOptions, RfcTransport } from './transports/rfc.ts';

export interface SapPostingOptions extends RulesConfig {
  transport: 'odata' | 'rfc' | 'idoc-xml';
  odata?: ODataOptions;
  rfc?: RfcOptions;
  idocXml?: IdocXmlOptions;
  concurrency: number;
  settleMs: number;
  retentionDays: number;
  queue?: QueueOptions;
}

const str = (description: string): JsonSchema => ({ type: 'string', description });
/** `${env:` / `${file:` spelled out so no linter takes them for templates. */
const ENV = '$' + '{env:';
const FILE = '$' + '{file:';
const strOrList = { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] };
const partner: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { port: { type: 'string' }, partnerType: { type: 'string' }, partnerNumber: { type: 'string' } },
};

export const sapPostingOptions: JsonSchema = {
  required: ['transport'],
  properties: {
    transport: {
      enum: ['odata', 'rfc', 'idoc-xml'],
      description: '`odata` (S/4HANA API_MATERIAL_DOCUMENT_SRV), `rfc` (BAPI_GOODSMVT_CREATE + BAPI_TRANSACTION_COMMIT via node-rfc) or `idoc-xml` (MBGMCR03 files for an SAP file port).',
    },
    odata: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      description: 'OData transport.',
      properties: {
        url: str('Service root, e.g. `https://s4.example.com/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV`.'),
        user: str(`User (basic authentication); use \`${ENV}SAP_USER}\`.`),
        password: str(`Password; use \`${ENV}SAP_PASSWORD}\` or \`${FILE}/run/secrets/sap-password}\`.`),
        client: str('SAP client, sent as `sap-client`.'),
        headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'Extra HTTP headers (API keys).' },
        timeoutMs: { type: 'integer', minimum: 100, default: 30_000, description: 'No answer within this time: the posting is UNCERTAIN.' },
        maxSockets: { type: 'integer', minimum: 1, default: 8 },
        insecure: { type: 'boolean', default: false, description: 'Accept any TLS certificate (test systems only).' },
      },
    },
    rfc: {
      type: 'object',
      additionalProperties: false,
      required: ['connection'],
      description: 'RFC transport (needs node-rfc and the SAP NW RFC SDK, see connectors/sap/README.md).',
      properties: {
        connection: {
          type: 'object',
          additionalProperties: { type: 'string' },
          description: 'node-rfc connection parameters: `{dest: S4H}` (sapnwrfc.ini) or `{ashost, sysnr, client, user, passwd, lang}`.',
        },
        timeoutSeconds: { type: 'integer', minimum: 1, default: 60, description: 'Per call; a timeout makes the posting UNCERTAIN.' },
        connections: { type: 'integer', minimum: 1, default: 4, description: 'Stateful connections kept open (one posting each at a time).' },
        lookup: {
          type: 'object',
          additionalProperties: false,
          properties: { table: { type: 'string', default: 'MKPF' }, field: { type: 'string', description: 'Default BKTXT (headerText key) or XBLNR.' } },
          description: 'Where RFC_READ_TABLE looks an uncertain key up.',
        },
      },
    },
    idocXml: {
      type: 'object',
      additionalProperties: false,
      required: ['dir'],
      description: 'IDoc-XML transport: one MBGMCR03 file per posting.',
      properties: {
        dir: str('Outbound folder the SAP file port reads (relative to the pipeline file).'),
        stagingDir: str('Staging folder on the same file system; default `<dir>/.staging`.'),
        filePrefix: { type: 'string', default: 'MBGMCR_' },
        basicType: { type: 'string', default: 'MBGMCR03' },
        client: str('MANDT of the control record.'),
        sender: { ...partner, description: 'SNDPOR/SNDPRT/SNDPRN (default STOCKBRDG/LS/STOCKBRDG).' },
        receiver: { ...partner, description: 'RCVPOR/RCVPRT/RCVPRN.' },
      },
    },
    rules: {
      type: 'array',
      description: 'Event → GM code and movement type; the first rule whose `when` matches wins. Default: see connectors/sap-posting/README.md.',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          when: {
            type: 'object',
            additionalProperties: false,
            properties: { eventType: strOrList, sign: { enum: ['positive', 'negative'] }, reasonCode: strOrList, locationType: strOrList },
          },
          skip: { type: 'boolean', description: 'Matching events are not posted (e.g. TRANSFER_IN, whose TRANSFER_OUT posts the transfer).' },
          gmCode: { type: 'string', pattern: '^0[1-7]$', description: 'GOODSMVT_CODE (T158G): 01 GR for PO, 03 goods issue, 04 transfer, 05 other receipts, ...' },
          movementType: { type: 'string', pattern: '^[0-9A-Z]{3}$' },
          crossPlantMovementType: { type: 'string', pattern: '^[0-9A-Z]{3}$', description: 'Used instead when a transfer crosses plants (e.g. 301).' },
          stockType: { type: 'string' },
          specialStock: { type: 'string' },
          moveReason: { type: 'string' },
          costCenter: { type: 'string' },
          itemText: { type: 'string' },
        },
      },
    },
    locations: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['plant', 'storageLocation'],
        additionalProperties: false,
        properties: { plant: { type: 'string' }, storageLocation: { type: 'string' } },
      },
      description: 'locationId → plant and storage location. Ids written `PLNT/SLOC` need no entry.',
    },
    locationsFile: str('CSV with columns locationId, plant, storageLocation (relative to the pipeline file).'),
    defaultStorageLocation: str('Storage location for location ids that are a bare 4-character plant.'),
    materials: { type: 'object', additionalProperties: { type: 'string' }, description: 'sku → SAP material number (default: the sku).' },
    materialsFile: str('CSV with columns sku, material.'),
    units: { type: 'object', additionalProperties: { type: 'string' }, description: 'Canonical unit → SAP unit, e.g. `{EA: ST}`.' },
    unitIso: { type: 'boolean', default: false, description: 'Units are ISO codes (ENTRY_UOM_ISO) rather than internal ones.' },
    materialLength: { enum: [18, 40], default: 18, description: '40: S/4HANA long material numbers (MATERIAL_LONG).' },
    timeZone: { type: 'string', default: 'UTC', description: 'Posting date = the date of occurredAt in this IANA time zone.' },
    keyField: {
      enum: ['headerText', 'referenceDocument'],
      default: 'headerText',
      description: 'Where the idempotency key travels: HEADER_TXT / MaterialDocumentHeaderText (25 chars) or REF_DOC_NO / ReferenceDocument (16).',
    },
    concurrency: { type: 'integer', minimum: 1, default: 8, description: 'Postings in flight at once (without a queue).' },
    settleMs: {
      type: 'integer',
      minimum: 0,
      default: 60_000,
      description: 'An UNCERTAIN posting is looked up only this long after its attempt: longer than SAP may still take to finish a request the client gave up on.',
    },
    retentionDays: {
      type: 'number',
      minimum: 0,
      default: 35,
      description: 'Final outbox entries are kept this long (must exceed any replay window); 0 keeps them forever.',
    },
    queue: {
      type: 'object',
      additionalProperties: false,
      required: ['redis'],
      description: 'Post through a BullMQ queue on Redis: dedupe by event id, rate limit, retries with backoff, failed jobs in `stockbridge dlq postings`.',
      properties: {
        redis: str('redis://[user:password@]host:port[/db]'),
        name: str('Queue name; default `stockbridge-sap-posting-<pipeline>-<sink>`.'),
        rateLimit: {
          type: 'object',
          additionalProperties: false,
          required: ['max', 'durationMs'],
          properties: { max: { type: 'integer', minimum: 1 }, durationMs: { type: 'integer', minimum: 1 } },
          description: 'At most `max` postings per `durationMs`.',
        },
        attempts: { type: 'integer', minimum: 1, default: 8, description: 'Attempts per posting for technical errors.' },
        backoffMs: { type: 'integer', minimum: 1, default: 1000, description: 'First retry delay; doubles per attempt.' },
        concurrency: { type: 'integer', minimum: 1, default: 4 },
        keepCompletedHours: { type: 'number', minimum: 0, default: 24 },
      },
    },
  },
};

/** The transport a sink configuration asks for (also used by `stockbridge dlq postings --repost`). */
export async function createTransport(o: SapPostingOptions, baseDir: string): Promise<Transport> {
  switch (o.transport) {
    case 'odata':
      if (!o.odata) throw new ConfigError("sap-posting: transport 'odata' needs an `odata:` section with `url`");
      return new ODataTransport(o.odata);
    case 'rfc': {
      if (!o.rfc) throw new ConfigError("sap-posting: transport 'rfc' needs an `rfc:` section with `connection`");
      const t = new RfcTransport(o.rfc);
      await t.init(); // node-rfc missing → one clear ConfigError now, not at the first posting
      return t;
    }
    case 'idoc-xml': {
      if (!o.idocXml) throw new ConfigError("sap-posting: transport 'idoc-xml' needs an `idocXml:` section with `dir`");
      const dir = resolve(baseDir, o.idocXml.dir);
      return new IdocXmlTransport({ ...o.idocXml, dir, stagingDir: o.idocXml.stagingDir ? resolve(baseDir, o.idocXml.stagingDir) : undefined });
    }
  }
}

export function outboxScope(sinkName: string): string {
  return `sap-posting:${sinkName}`;
}

export const sapPostingSink: SinkSpec<SapPostingOptions> = {
  kind: 'sink',
  name: 'sap-posting',
  summary: 'SAP stock postings (material documents) exactly once per event: outbox in the state store, RFC BAPI, S/4HANA OData or MBGMCR IDoc-XML, optional BullMQ queue.',
  delivery:
    'exactly-once per event id: outbox entry written before SAP is called; timeouts and lost sessions are resolved by looking the key (HEADER_TXT) up in SAP before any retry; business errors are dead-lettered, never retried by themselves',
  options: sapPostingOptions,
  example: `sinks:\n  - type: sap-posting\n    transport: odata\n    odata:\n      url: https://s4.example.com/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV\n      user: ${ENV}SAP_USER}\n      password: ${ENV}SAP_PASSWORD}\n    locationsFile: ../reference/sap-locations.csv\n    units: { EA: ST }`,
  async create(options, ctx) {
    const sinkName = (ctx.log as { bindings?: () => Record<string, unknown> }).bindings?.().sink;
    const name = typeof sinkName === 'string' ? sinkName : 'sap-posting';
    let rules: PostingRules;
    try {
      rules = new PostingRules(options, ctx.baseDir);
    } catch (err) {
      throw new ConfigError(`sap-posting: ${(err as Error).message}`);
    }
    const transport = await createTransport(options, ctx.baseDir);
    const scope = outboxScope(name);
    const outbox = new PostingOutbox({
      store: ctx.sink.state,
      scope,
      transport,
      settleMs: options.settleMs,
      sink: name,
      log: ctx.log,
      deadLetter: (e) => ctx.sink.deadLetter(e),
    });
    let queue: PostingQueue | undefined;
    if (options.queue) {
      queue = await PostingQueue.create(options.queue, queueName(ctx.pipeline, name, options.queue), outbox, options.settleMs, ctx.log);
    }
    return new SapPostingSink({
      rules,
      transport,
      outbox,
      queue,
      concurrency: options.concurrency,
      retentionDays: options.retentionDays,
      scope,
      ctx: ctx.sink,
      log: ctx.log,
    });
  },
};
