/** The sap-rfc source against the RFC client double: paging, checkpoint resume, schedule, function modules, errors. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sapRfcSource } from '../../../connectors/sap-rfc/index.ts';
import { optionLines, type RfcPosition, type SapRfcOptions } from '../../../connectors/sap-rfc/source.ts';
import { ajv } from '../../../runtime/config/pipeline.ts';
import type { Source, SourceBatch, SourceContext } from '../../../runtime/contracts/spi.ts';
import { openSqliteStore, type SqliteStateStore } from '../../../runtime/state/sqlite-store.ts';
import { RfcSystemDouble } from '../../doubles/rfc-client-double.ts';
import { silentLog } from '../sap-posting/helpers.ts';

process.env.STOCKBRIDGE_NODE_RFC = resolve(import.meta.dirname, '..', '..', 'doubles', 'rfc-client-double.ts');

let sap: RfcSystemDouble;
const stores: SqliteStateStore[] = [];
beforeEach(() => {
  sap = RfcSystemDouble.create('S4H');
  sap.tables.set('MARD', {
    fields: [
      ['MANDT', 3],
      ['MATNR', 18],
      ['WERKS', 4],
      ['LGORT', 4],
      ['LABST', 13],
      ['INSME', 13],
      ['SPEME', 13],
    ],
    rows: Array.from({ length: 10 }, (_, i) => ({
      MANDT: '100',
      MATNR: String(104700 + i).padStart(18, '0'),
      WERKS: i < 7 ? '1010' : '1020',
      LGORT: '0001',
      LABST: `${(i * 12).toFixed(3).padStart(13)}`,
      INSME: '0.000'.padStart(13),
      SPEME: '1.000'.padStart(13),
    })),
  });
});
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function opts(o: Record<string, unknown>): SapRfcOptions {
  const v = ajv.compile({ type: 'object', additionalProperties: false, ...sapRfcSource.options });
  const copy = structuredClone({ connection: { dest: 'S4H' }, ...o });
  if (!v(copy)) throw new Error(JSON.stringify(v.errors));
  return copy as unknown as SapRfcOptions;
}

function context(state: SqliteStateStore, once: boolean, signal = new AbortController().signal, batchSize = 100): SourceContext {
  return {
    pipeline: 'mard',
    signal,
    once,
    batchSize,
    format: undefined as never,
    state,
    log: silentLog,
    deadLetter: async () => {},
    unitCounts: () => undefined,
  };
}

async function source(o: Record<string, unknown>, ctx: SourceContext): Promise<Source<RfcPosition>> {
  return (await sapRfcSource.create(opts(o), { pipeline: 'mard', baseDir: '.', stateDir: '.', log: silentLog, source: ctx })) as Source<RfcPosition>;
}

function store(dir = mkdtempSync(join(tmpdir(), 'sb-rfc-'))): SqliteStateStore {
  const s = openSqliteStore(dir, 'mard');
  stores.push(s);
  return s;
}

async function collect(src: Source<RfcPosition>, commit = true, max = Number.POSITIVE_INFINITY): Promise<Array<SourceBatch<RfcPosition>>> {
  const out: Array<SourceBatch<RfcPosition>> = [];
  for await (const b of src.batches()) {
    out.push(b);
    if (commit) await src.commit([b.position]);
    if (out.length >= max) break;
  }
  return out;
}

describe('sap-rfc source', () => {
  it('RFC_READ_TABLE in pages (ROWSKIPS/ROWCOUNT): one record per row, fields trimmed, refs per snapshot and row', async () => {
    const st = store();
    const src = await source({ table: 'MARD', fields: ['MATNR', 'WERKS', 'LGORT', 'LABST'], pageSize: 4 }, context(st, true));
    const batches = await collect(src);
    expect(batches.map((b) => b.records.length)).toEqual([4, 4, 2]);
    expect(batches.map((b) => b.position.last)).toEqual([false, false, true]);
    const first = batches[0].records[0];
    const snapshotId = batches[0].position.snapshotId;
    expect(first.value).toEqual({ MATNR: '000000000000104700', WERKS: '1010', LGORT: '0001', LABST: '0.000' });
    expect(first.ref).toBe(`MARD@${snapshotId}:1`);
    expect(first.meta).toMatchObject({ function: 'RFC_READ_TABLE', table: 'MARD', snapshotAt: snapshotId, page: 1, row: 1 });
    expect(batches[2].records[1].ref).toBe(`MARD@${snapshotId}:10`);
    expect(sap.calls.filter((c) => c === 'RFC_READ_TABLE')).toHaveLength(3);
    expect(await st.getCheckpoint('sap-rfc:mard')).toMatchObject({ lastSnapshotId: snapshotId });
    await src.close();
  });

  it('where conditions become OPTIONS lines of at most 72 characters', async () => {
    const src = await source({ table: 'MARD', where: ["WERKS = '1020'", "LGORT = '0001'"], pageSize: 100 }, context(store(), true));
    const [b] = await collect(src);
    expect(b.records.map((r) => (r.value as Record<string, string>).WERKS)).toEqual(['1020', '1020', '1020']);
    const long = optionLines(Array.from({ length: 6 }, (_, i) => `MATNR = '${String(i).padStart(18, '0')}'`));
    expect(long.every((l) => l.TEXT.length <= 72)).toBe(true);
    expect(long.map((l) => l.TEXT).join(' ')).toContain("( MATNR = '000000000000000005' )");
    await src.close();
  });

  it('a restart resumes the open snapshot after its last committed page', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-rfc-'));
    const st = store(dir);
    const a = await source({ table: 'MARD', pageSize: 3 }, context(st, true));
    const it = a.batches()[Symbol.asyncIterator]();
    const b1 = (await it.next()).value as SourceBatch<RfcPosition>;
    await a.commit([b1.position]);
    await it.next(); // read, never committed: the process dies here
    await a.close();
    const b = await source({ table: 'MARD', pageSize: 3 }, context(st, true));
    const rest = await collect(b);
    expect(rest[0].position.snapshotId).toBe(b1.position.snapshotId);
    expect(rest.flatMap((x) => x.records.map((r) => r.ref.split(':').pop()))).toEqual(['4', '5', '6', '7', '8', '9', '10']);
    await b.close();
  });

  it('a function module with its own paging parameters; without paging one page', async () => {
    const mard = sap.tables.get('MARD')!.rows;
    sap.functions.set('Z_STOCK_SNAPSHOT', (p) => ({
      STOCK: mard.slice(Number(p.I_SKIP), Number(p.I_SKIP) + Number(p.I_TOP)).filter((r) => r.WERKS === p.I_WERKS).map((r) => ({ MATNR: r.MATNR, LABST: r.LABST })),
    }));
    const paged = await source(
      { function: 'Z_STOCK_SNAPSHOT', parameters: { I_WERKS: '1010' }, rows: 'STOCK', paging: { skip: 'I_SKIP', count: 'I_TOP' }, pageSize: 4 },
      context(store(), true),
    );
    const batches = await collect(paged);
    expect(batches.map((b) => b.records.length)).toEqual([4, 3]);
    expect(batches[1].records[2].value).toEqual({ MATNR: '000000000000104706', LABST: '72.000' });
    expect(batches[1].records[2].meta).toMatchObject({ function: 'Z_STOCK_SNAPSHOT', row: 7 });
    sap.functions.set('Z_ALL', () => ({ ROWS: mard.map((r) => ({ MATNR: r.MATNR })) }));
    const whole = await collect(await source({ function: 'Z_ALL', rows: 'ROWS', pageSize: 4 }, context(store(), true)));
    expect(whole.map((b) => b.records.length)).toEqual([10]);
  });

  it('scheduled: the next snapshot starts `every` after the previous one was committed', async () => {
    const ac = new AbortController();
    const st = store();
    const src = await source({ table: 'MARD', pageSize: 100, every: '200ms' }, context(st, false, ac.signal));
    const seen: Array<{ id: string; at: number }> = [];
    for await (const b of src.batches()) {
      seen.push({ id: b.position.snapshotId, at: Date.now() });
      await src.commit([b.position]);
      if (seen.length === 2) ac.abort();
    }
    expect(seen).toHaveLength(2);
    expect(seen[1].id).not.toBe(seen[0].id);
    expect(Date.parse(seen[1].id) - Date.parse(seen[0].id)).toBeGreaterThanOrEqual(190);
  });

  it('a lost connection is retried; ABAP exceptions and a missing node-rfc are configuration errors', async () => {
    sap.script.push({ fn: 'RFC_READ_TABLE', fault: 'session-loss-before' });
    const batches = await collect(await source({ table: 'MARD', pageSize: 100 }, context(store(), true)));
    expect(batches[0].records).toHaveLength(10);
    await expect(collect(await source({ table: 'NOPE' }, context(store(), true)))).rejects.toThrow(/sap-rfc: ABAPError TABLE_NOT_AVAILABLE/);
    await expect(collect(await source({ table: 'MARD', fields: ['XYZ'] }, context(store(), true)))).rejects.toThrow(/FIELD_NOT_VALID/);
    const saved = process.env.STOCKBRIDGE_NODE_RFC;
    process.env.STOCKBRIDGE_NODE_RFC = '/nonexistent/node-rfc.js';
    try {
      await expect(source({ table: 'MARD' }, context(store(), true))).rejects.toThrow(/node-rfc package is not installed.*SAPNWRFC_HOME/);
    } finally {
      process.env.STOCKBRIDGE_NODE_RFC = saved;
    }
  });
});
