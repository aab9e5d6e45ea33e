/**
 * The example mapping mappings/mainframe-store-sales.yaml: its declared tests, and copybook files read through the
 * file-drop source (fixed-length and RDW records, small chunks) into the real engine.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileDropSource } from '../../../connectors/file-drop/index.ts';
import type { FileDropOptions } from '../../../connectors/file-drop/source.ts';
import { DELIVERY_DEFAULTS } from '../../../runtime/config/pipeline-schema.ts';
import type { CompiledMapping } from '../../../runtime/contracts/mapping.ts';
import type { SourceContext, StateStore } from '../../../runtime/contracts/spi.ts';
import { Engine } from '../../../runtime/engine/engine.ts';
import { bindFormat } from '../../../runtime/formats/index.ts';
import { loadMapping } from '../../../runtime/mapping/compile.ts';
import { runTests } from '../../../runtime/mapping/tester.ts';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';
import { CollectingSink, silentLog } from '../../support/fakes.ts';
import { rdw } from './fixtures.ts';

const MAPPINGS = resolve(import.meta.dirname, '../../../mappings');
const MAPPING = join(MAPPINGS, 'mainframe-store-sales.yaml');
const SAMPLE = join(MAPPINGS, 'samples/mainframe-store-sales.bin');
const BAD = join(MAPPINGS, 'samples/mainframe-store-sales-bad.bin');

const stores: StateStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

describe('mappings/mainframe-store-sales.yaml', () => {
  it('passes its declared tests', async () => {
    const m = await loadMapping(MAPPING, { namespace: 'test' });
    const outcomes = await runTests(m);
    expect(outcomes.length).toBeGreaterThanOrEqual(3);
    for (const o of outcomes) expect({ name: o.name, problems: o.problems }).toEqual({ name: o.name, problems: [] });
  });
});

async function dropRun(folder: string, mapping: CompiledMapping) {
  const state = openSqliteStore(join(folder, '.state'), 'mf');
  stores.push(state);
  const controller = new AbortController();
  const sink = new CollectingSink();
  let engine: Engine | undefined;
  const ctx: SourceContext = {
    pipeline: 'mf',
    signal: controller.signal,
    once: true,
    batchSize: 2,
    format: mapping.format,
    state,
    log: silentLog,
    deadLetter: (e) => state.addDeadLetters([e]),
    unitCounts: (u) => engine?.unitCounts(u),
  };
  const options = {
    path: '.', include: ['*.bin', '*.vb'], exclude: [], recursive: false, minAgeMs: 1000, stableMs: 200,
    tempPatterns: ['*.tmp'], mode: 'poll', pollIntervalMs: 50, afterSuccess: 'archive',
    archive: { dated: false, gzip: false }, duplicateWindowHours: 168, followSymlinks: false, chunkSize: 1024, onceWaitMs: 2000,
  } as FileDropOptions;
  const source = await fileDropSource.create(options, { pipeline: 'mf', baseDir: folder, stateDir: '', log: silentLog, source: ctx });
  engine = new Engine({
    pipeline: 'mf', connector: 'file-drop', source, mapping, processors: [], sinks: [{ name: 'out', sink }], state,
    delivery: { ...DELIVERY_DEFAULTS, batchSize: 2, maxPendingBatches: 4 },
    log: silentLog, stopController: controller,
  });
  const summary = await engine.run();
  await source.close();
  return { summary, sink, dead: await state.listDeadLetters() };
}

const OLD = Date.now() / 1000 - 3600;

describe('copybook files through the file-drop source', () => {
  it('fixed-length records: events, rejects with their byte offsets, file archived', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sb-mf-'));
    copyFileSync(SAMPLE, join(folder, 'sales.bin'));
    copyFileSync(BAD, join(folder, 'bad.bin'));
    for (const f of ['sales.bin', 'bad.bin']) utimesSync(join(folder, f), OLD, OLD);
    const mapping = await loadMapping(MAPPING, { namespace: 'mf' });
    const { summary, sink, dead } = await dropRun(folder, mapping);
    expect(summary).toMatchObject({ status: 'ok', recordsIn: 10, recordsMapped: 6, recordsRejected: 4 });
    expect(summary.units).toMatchObject({ 'sales.bin': { recordsIn: 5, eventsOut: 5 }, 'bad.bin': { recordsIn: 5, recordsRejected: 4 } });
    expect(sink.events.filter((e) => e.eventType === 'RETURN').map((e) => [e.sku, e.quantity, e.attributes?.salePrice])).toEqual([
      ['40012345', '1.000', '-19.00'],
      ['40088888', '2.000', '-35.98'],
    ]);
    const decodeRejects = dead.filter((d) => d.stage === 'decode');
    expect(decodeRejects.map((d) => [d.error?.offset, d.error?.file])).toEqual([
      [27 + 19, 'bad.bin'],
      [108, 'bad.bin'],
    ]);
    expect(decodeRejects[1].reason).toBe('truncated last record: 20 of 27 bytes at offset 108');
    expect(dead.find((d) => d.reason.includes('unknown store'))?.ref).toMatch(/^bad\.bin@[0-9a-f]{12}@54$/);
    expect(readdirSync(join(folder, '.archive')).sort()).toEqual(['bad.bin', 'sales.bin']);
  });

  it('RDW variable-length records (recordFormat: rdw) give the same events', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sb-mf-'));
    const data = readFileSync(SAMPLE);
    const recs = Array.from({ length: data.length / 27 }, (_, i) => rdw(data.subarray(i * 27, (i + 1) * 27)));
    writeFileSync(join(folder, 'sales.vb'), Buffer.concat(recs));
    utimesSync(join(folder, 'sales.vb'), OLD, OLD);
    const fixed = await loadMapping(MAPPING, { namespace: 'mf' });
    const mapping: CompiledMapping = {
      id: fixed.id,
      name: fixed.name,
      version: fixed.version,
      format: bindFormat('copybook', { copybook: 'copybooks/store-sales.cpy', flatten: true, dropPrefix: 'SS-', recordFormat: 'rdw' }, MAPPINGS),
      map: (r, v, out, c) => fixed.map(r, v, out, c),
    };
    const { summary, sink } = await dropRun(folder, mapping);
    expect(summary).toMatchObject({ status: 'ok', recordsIn: 5, recordsMapped: 5 });
    expect(sink.events.map((e) => [e.eventType, e.sku, e.quantity])).toEqual([
      ['SALE', '40012345', '-1.000'],
      ['RETURN', '40012345', '1.000'],
      ['SALE', '40056789', '-3.000'],
      ['SALE', '40077777', '-10.000'],
      ['RETURN', '40088888', '2.000'],
    ]);
    expect(sink.events[2].source.recordRef).toMatch(/^sales\.vb@[0-9a-f]{12}@62$/);
  });
});
