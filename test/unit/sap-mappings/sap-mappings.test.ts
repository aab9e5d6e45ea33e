/**
 * The SAP example mappings (goods movements from WMMBXY/MBGMCR IDocs, LOISTD01 stock, MARD extracts), the MATMAS →
 * reference CSV tool, the committed samples, and whole pipelines: IDoc files through file-drop, MARD through sap-rfc.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyMatmas, MATERIAL_COLUMNS, readMaterialsCsv, toCsv, UNIT_COLUMNS } from '../../../connectors/sap/matmas-reference.ts';
import { builtinRegistry } from '../../../connectors/index.ts';
import { loadPipeline } from '../../../runtime/config/pipeline.ts';
import type { InventoryEvent } from '../../../runtime/contracts/event.ts';
import { preparePipeline } from '../../../runtime/engine/pipeline-runner.ts';
import { loadCatalog } from '../../../runtime/formats/idoc/index.ts';
import { toFlat, toXml } from '../../../runtime/formats/idoc/write.ts';
import { loadMapping } from '../../../runtime/mapping/compile.ts';
import { runTests } from '../../../runtime/mapping/tester.ts';
import { RfcSystemDouble } from '../../doubles/rfc-client-double.ts';
import { cli, ROOT } from '../../support/cli.ts';
import { silentLog } from '../sap-posting/helpers.ts';
import { loistdDocs, MAPPINGS, matmasDocs, mbgmcrDocs, SAMPLES, wmmbxyDocs } from './fixtures.ts';

const SAP_MAPPINGS = ['sap-idoc-goods-movements.yaml', 'sap-idoc-stock.yaml', 'sap-rfc-mard-stock.yaml'];

describe('SAP example mappings', () => {
  for (const f of SAP_MAPPINGS)
    it(`${f}: declared tests pass`, async () => {
      const m = await loadMapping(join(MAPPINGS, f), { verify: true });
      const results = await runTests(m);
      expect(results.length).toBeGreaterThan(0);
      const failed = results.filter((r) => !r.passed).map((r) => `${r.name}:\n  ${r.problems.join('\n  ')}`);
      expect(failed, failed.join('\n')).toEqual([]);
    });

  it('the samples are the documented fixtures (regenerate: node test/unit/sap-mappings/fixtures.ts)', () => {
    const cat = loadCatalog();
    expect(readFileSync(join(SAMPLES, 'wmmbxy-20261121.idoc'), 'utf8')).toBe(wmmbxyDocs().map((t) => toFlat(t, cat, '\r\n')).join(''));
    expect(readFileSync(join(SAMPLES, 'mbgmcr-20261120.xml'), 'utf8')).toBe(toXml(mbgmcrDocs(), cat));
    expect(readFileSync(join(SAMPLES, 'loistd-20261121.idoc'), 'utf8')).toBe(loistdDocs().map((t) => toFlat(t, cat)).join(''));
    expect(readFileSync(join(SAMPLES, 'matmas-20261101.xml'), 'utf8')).toBe(toXml(matmasDocs(), cat));
  });
});

describe('MATMAS → material reference CSV', () => {
  it('the committed reference is what the tool makes of the MATMAS sample', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'connectors/sap/matmas-reference.ts'), join(SAMPLES, 'matmas-20261101.xml')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(MAPPINGS, 'reference', 'sap-materials.csv'), 'utf8'));
    expect(r.stderr).toContain('3 material(s) from 3 MATMAS IDoc(s)');
  });

  it('GTIN of the base unit, English description, deletions (MSGFN 003), merge with an existing reference, units', () => {
    const docs = matmasDocs();
    const { materials, units } = applyMatmas(docs);
    expect(materials.get('000000000000104711')).toEqual({ material: '000000000000104711', sku: '104711', gtin: '4006381333931', baseUnit: 'ST', description: 'Sparkling water 1.5 l' });
    expect(units.get('000000000000104711')).toEqual([
      { material: '000000000000104711', unit: 'ST', numerator: '1', denominator: '1', gtin: '4006381333931' },
      { material: '000000000000104711', unit: 'KAR', numerator: '6', denominator: '1', gtin: '4006381333948' },
    ]);
    const csv = toCsv(MATERIAL_COLUMNS, materials.values());
    const back = readMaterialsCsv(csv);
    expect(back.get('000000000000104712')?.description).toBe('Apples, loose');
    const del = structuredClone(docs[2]) as any;
    del.E1MARAM[0].MSGFN = '003';
    const change = structuredClone(docs[0]) as any;
    change.E1MARAM[0].E1MARMM[0].EAN11 = '4006381999999';
    const after = applyMatmas([del, change], back);
    expect([...after.materials.keys()]).toEqual(['000000000000104711', '000000000000104712']);
    expect(after.materials.get('000000000000104711')?.gtin).toBe('4006381999999');
    expect(toCsv(UNIT_COLUMNS, [...after.units.values()].flat()).split('\n')[0]).toBe('material,unit,numerator,denominator,gtin');
  });
});

describe('SAP pipelines', () => {
  it('IDoc files through file-drop: flat and XML, offsets checkpointed, events out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sap-pipe-'));
    mkdirSync(join(dir, 'drop'));
    cpSync(join(SAMPLES, 'wmmbxy-20261121.idoc'), join(dir, 'drop', 'wmmbxy-20261121.idoc'));
    cpSync(join(SAMPLES, 'mbgmcr-20261120.xml'), join(dir, 'drop', 'mbgmcr-20261120.xml'));
    const p = join(dir, 'p.yaml');
    writeFileSync(
      p,
      `pipeline: sap-idoc\nsource:\n  type: file-drop\n  path: drop\n  minAgeMs: 0\n  stableMs: 0\nmapping: ${join(MAPPINGS, 'sap-idoc-goods-movements.yaml')}\nsinks:\n  - type: jsonl\n    path: out.jsonl\n`,
    );
    const r = cli(['run', p, '--once', '--json', '--state-dir', join(dir, 'state')]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary).toMatchObject({ status: 'ok', recordsIn: 3, recordsMapped: 3, recordsRejected: 0, eventsOut: 18 });
    const events = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as InventoryEvent);
    expect(events.filter((e) => e.eventType === 'TRANSFER_IN')).toHaveLength(3);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(18);
    expect(events.find((e) => e.references?.reasonCode === '653')?.source.recordRef).toMatch(/^wmmbxy-20261121\.idoc@[0-9a-f]{12}:1$/);
  });

  it('MARD through the sap-rfc source (RFC double) into SNAPSHOT events', async () => {
    process.env.STOCKBRIDGE_NODE_RFC = resolve(import.meta.dirname, '..', '..', 'doubles', 'rfc-client-double.ts');
    const sap = RfcSystemDouble.create('S4H');
    sap.tables.set('MARD', {
      fields: [
        ['MATNR', 18],
        ['WERKS', 4],
        ['LGORT', 4],
        ['LABST', 13],
        ['INSME', 13],
        ['SPEME', 13],
      ],
      rows: [
        { MATNR: '000000000000104711', WERKS: '1010', LGORT: '0001', LABST: '1240.000', INSME: '0.000', SPEME: '0.000' },
        { MATNR: '000000000000104712', WERKS: '1010', LGORT: '0001', LABST: '12.500', INSME: '0.000', SPEME: '1.000' },
        { MATNR: 'TG-12', WERKS: '1020', LGORT: '0002', LABST: '7.000', INSME: '0.000', SPEME: '0.000' },
      ],
    });
    const dir = mkdtempSync(join(tmpdir(), 'sb-sap-rfc-'));
    const p = join(dir, 'p.yaml');
    writeFileSync(
      p,
      `pipeline: mard\nsource:\n  type: sap-rfc\n  connection: { dest: S4H }\n  table: MARD\n  fields: [MATNR, WERKS, LGORT, LABST, INSME, SPEME]\n  pageSize: 2\nmapping: ${join(MAPPINGS, 'sap-rfc-mard-stock.yaml')}\nsinks:\n  - type: jsonl\n    path: out.jsonl\n`,
    );
    const cfg = loadPipeline(p, builtinRegistry());
    const run = await preparePipeline(cfg, { once: true, stateDir: join(dir, 'state'), log: silentLog });
    const summary = await run.engine.run();
    await run.close();
    expect(summary).toMatchObject({ status: 'ok', recordsIn: 3, eventsOut: 3, batches: 2 });
    const events = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as InventoryEvent);
    expect(events.map((e) => [e.eventType, e.sku, e.locationId, e.quantity, e.unitOfMeasure])).toEqual([
      ['SNAPSHOT', '104711', '1010/0001', '1240.000', 'EA'],
      ['SNAPSHOT', '104712', '1010/0001', '12.500', 'KG'],
      ['SNAPSHOT', 'TG-12', '1020/0002', '7.000', 'EA'],
    ]);
    expect(new Set(events.map((e) => e.occurredAt)).size).toBe(1);
    expect(events[0].source.recordRef).toBe(`MARD@${events[0].occurredAt}:1`);
  });
});
