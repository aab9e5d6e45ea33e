/** `sap-rfc`: scheduled RFC extracts from SAP (RFC_READ_TABLE or a function module) as snapshot records. */
import type { SourceSpec } from '../../runtime/contracts/spi.ts';
import { loadNodeRfc } from '../sap/node-rfc.ts';
import { type SapRfcOptions, SapRfcSource } from './source.ts';

export const sapRfcSource: SourceSpec<SapRfcOptions> = {
  kind: 'source',
  name: 'sap-rfc',
  summary: 'Scheduled SAP RFC extracts (RFC_READ_TABLE on e.g. MARD, or a function module/BAPI) as snapshot records, paged, with a resumable checkpoint; needs node-rfc + the SAP NW RFC SDK.',
  delivery: 'at-least-once per row: the checkpoint advances per committed page; a restart resumes the open snapshot at the next page',
  options: {
    required: ['connection'],
    properties: {
      connection: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'node-rfc connection parameters: `{dest: S4H}` (sapnwrfc.ini) or `{ashost, sysnr, client, user, passwd, lang}`.',
      },
      table: { type: 'string', description: 'Read this table with RFC_READ_TABLE (e.g. MARD).' },
      fields: { type: 'array', items: { type: 'string' }, description: 'Fields to read (RFC_READ_TABLE returns at most 512 characters per row).' },
      where: { type: 'array', items: { type: 'string' }, description: "Conditions in ABAP SQL, joined with AND, e.g. `WERKS = '1010'`." },
      function: { type: 'string', description: 'Call this function module / BAPI instead (with `parameters` and `rows`).' },
      parameters: { type: 'object', description: 'Import parameters of the function module.' },
      rows: { type: 'string', description: 'The table parameter that holds the result rows.' },
      paging: {
        anyOf: [
          { const: false },
          {
            type: 'object',
            additionalProperties: false,
            required: ['skip', 'count'],
            properties: { skip: { type: 'string' }, count: { type: 'string' } },
          },
        ],
        description: 'Paging parameters of `function` (RFC_READ_TABLE pages with ROWSKIPS/ROWCOUNT); without them the result is one page.',
      },
      pageSize: { type: 'integer', minimum: 1, default: 5000, description: 'Rows per call.' },
      every: { type: 'string', description: 'Run an extract this long after the previous one finished (`15m`, `1h`, `1d`). Without it: one extract.' },
      runAtStart: { type: 'boolean', default: true, description: 'Start the first extract at once (otherwise after `every`).' },
      timeoutSeconds: { type: 'integer', minimum: 1, default: 300, description: 'Per RFC call.' },
    },
  },
  example:
    "source:\n  type: sap-rfc\n  connection: { dest: S4H }\n  table: MARD\n  fields: [MATNR, WERKS, LGORT, LABST, INSME, SPEME]\n  where: [\"WERKS = '1010'\"]\n  every: 1h",
  async create(options, ctx) {
    await loadNodeRfc(); // node-rfc or the SDK missing: one clear ConfigError at start
    return new SapRfcSource(options, ctx.source);
  },
};
