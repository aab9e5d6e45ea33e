import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { fileDropSource } from '../../../connectors/file-drop/index.ts';
import type { FileDropOptions } from '../../../connectors/file-drop/source.ts';
import { DELIVERY_DEFAULTS } from '../../../runtime/config/pipeline-schema.ts';
import type { Sink, SourceContext, StateStore } from '../../../runtime/contracts/spi.ts';
import { Engine } from '../../../runtime/engine/engine.ts';
import { bindFormat } from '../../../runtime/formats/index.ts';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';
import { CollectingSink, silentLog, testMapping } from '../../support/fakes.ts';

const stores: StateStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

const OLD = Date.now() / 1000 - 3600;

function dropFolder(): string {
  return mkdtempSync(join(tmpdir(), 'sb-drop-'));
}

/** Writes a CSV with a header and `n` lines, aged so it counts as complete. */
function drop(folder: string, name: string, n: number, from = 0, age = true): string {
  let s = 'sku,qty\n';
  for (let i = 0; i < n; i++) s += `SKU${from + i},1\n`;
  const p = join(folder, name);
  writeFileSync(p, s);
  if (age) utimesSync(p, OLD, OLD);
  return p;
}

async function run(folder: string, opts: Partial<FileDropOptions> = {}, sink: Sink = new CollectingSink(), stateDir?: string) {
  const state = openSqliteStore(stateDir ?? join(folder, '.state'), 'drop');
  stores.push(state);
  const spec = fileDropSource;
  const controller = new AbortController();
  const mapping = { ...testMapping(), format: bindFormat('csv', { header: true }, folder) };
  let engine: Engine | undefined;
  const ctx: SourceContext = {
    pipeline: 'drop',
    signal: controller.signal,
    once: true,
    batchSize: 10,
    format: mapping.format,
    state,
    log: silentLog,
    deadLetter: (e) => state.addDeadLetters([e]),
    unitCounts: (u) => engine?.unitCounts(u),
  };
  const options = {
    path: '.', include: ['*.csv'], exclude: [], recursive: false, minAgeMs: 1000, stableMs: 200,
    tempPatterns: ['*.tmp', '*.part', '~*'], mode: 'poll', pollIntervalMs: 50, afterSuccess: 'archive',
    archive: { dated: false, gzip: false }, duplicateWindowHours: 168, followSymlinks: false, chunkSize: 64, onceWaitMs: 2000,
    ...opts,
  } as FileDropOptions;
  const source = await spec.create(options, { pipeline: 'drop', baseDir: folder, stateDir: '', log: silentLog, source: ctx });
  engine = new Engine({
    pipeline: 'drop', connector: 'file-drop', source, mapping, processors: [], sinks: [{ name: 'out', sink }], state,
    delivery: { ...DELIVERY_DEFAULTS, maxPendingBatches: 4, retry: { ...DELIVERY_DEFAULTS.retry, maxAttempts: 1 } },
    log: silentLog, stopController: controller,
  });
  const summary = await engine.run();
  await source.close();
  return { summary, sink, state };
}

const skus = (s: CollectingSink) => s.events.map((e) => e.sku);

describe('file-drop source', () => {
  it('processes complete files only, archives them and accounts per file', async () => {
    const f = dropFolder();
    drop(f, 'a.csv', 25);
    drop(f, 'b.csv', 5, 100);
    drop(f, 'c.csv.tmp', 3);
    drop(f, '.hidden.csv', 3);
    drop(f, 'notes.txt', 3);
    drop(f, 'young.csv', 2, 500, false); // just written: not complete yet
    const { summary, sink } = await run(f, { onceWaitMs: 0 });
    expect(summary.recordsIn).toBe(30);
    expect(summary.units).toMatchObject({ 'a.csv': { recordsIn: 25, eventsOut: 25 }, 'b.csv': { recordsIn: 5 } });
    expect(skus(sink as CollectingSink).sort()).toEqual([...Array.from({ length: 25 }, (_, i) => `SKU${i}`), ...Array.from({ length: 5 }, (_, i) => `SKU${100 + i}`)].sort());
    expect(readdirSync(join(f, '.archive')).sort()).toEqual(['a.csv', 'b.csv']);
    expect(readdirSync(f).sort()).toEqual(['.archive', '.hidden.csv', '.processing', '.state', 'c.csv.tmp', 'notes.txt', 'young.csv']);
  });

  it('waits in --once mode for a file that becomes complete, and ignores a file until its done marker exists', async () => {
    const f = dropFolder();
    drop(f, 'young.csv', 2, 0, false);
    drop(f, 'marked.csv', 3, 10);
    const { summary } = await run(f, { minAgeMs: 300, stableMs: 100, doneMarker: '.done', onceWaitMs: 1500 });
    expect(summary.recordsIn).toBe(0);
    writeFileSync(join(f, 'marked.csv.done'), '');
    writeFileSync(join(f, 'young.csv.done'), '');
    const second = await run(f, { minAgeMs: 300, stableMs: 100, doneMarker: '.done', onceWaitMs: 3000 });
    expect(second.summary.recordsIn).toBe(5);
    expect(existsSync(join(f, 'marked.csv.done'))).toBe(false);
  });

  it('resumes mid-file after a failure without re-emitting committed lines', async () => {
    const f = dropFolder();
    drop(f, 'big.csv', 100);
    let writes = 0;
    const first = new CollectingSink();
    const failing: Sink = {
      async write(events) {
        if (++writes > 3) throw new Error('disk on fire');
        await first.write(events);
      },
      async flush() {},
      async close() {},
    };
    const r1 = await run(f, {}, failing);
    expect(r1.summary.status).toBe('failed');
    const committed = first.events.length;
    expect(committed).toBe(30);
    const r2 = await run(f, {});
    expect(r2.summary.status).toBe('ok');
    const second = skus(r2.sink as CollectingSink);
    expect(second).toEqual(Array.from({ length: 70 }, (_, i) => `SKU${30 + i}`));
    // same record → same id: the resumed part uses the same references as an uninterrupted run would
    expect((r2.sink as CollectingSink).events[0].source.recordRef).toMatch(/^big\.csv@[0-9a-f]{12}:32$/);
    expect(readdirSync(join(f, '.archive'))).toEqual(['big.csv']);
  });

  it('skips the same content dropped again under another name, with an error report', async () => {
    const f = dropFolder();
    drop(f, 'day1.csv', 4);
    await run(f);
    const copy = drop(f, 'day1-again.csv', 4);
    const again = await run(f);
    expect(again.summary.recordsIn).toBe(0);
    expect(existsSync(copy)).toBe(false);
    const report = JSON.parse(readFileSync(join(f, '.error', 'day1-again.csv.error.json'), 'utf8'));
    expect(report.reason).toMatch(/^duplicate: the same content \(sha256 [0-9a-f]{64}\)/);
    // different content under the first name is new data
    drop(f, 'day1.csv', 4, 50);
    expect((await run(f)).summary.recordsIn).toBe(4);
  });

  it('sends empty, binary and symlinked files to the error folder with a reason', async () => {
    const f = dropFolder();
    const outside = dropFolder();
    writeFileSync(join(f, 'empty.csv'), '');
    writeFileSync(join(f, 'garbage.csv'), Buffer.from([0x53, 0x4b, 0x00, 0xff, 0xfe, 0x00, 0x01]));
    symlinkSync(drop(outside, 'elsewhere.csv', 3), join(f, 'link.csv'));
    for (const n of ['empty.csv', 'garbage.csv']) utimesSync(join(f, n), OLD, OLD);
    execFileSync('touch', ['-h', '-d', '@' + Math.floor(OLD), join(f, 'link.csv')]);
    drop(f, 'good.csv', 2);
    const { summary } = await run(f);
    expect(summary.recordsIn).toBe(2);
    const reason = (n: string) => JSON.parse(readFileSync(join(f, '.error', `${n}.error.json`), 'utf8')).reason as string;
    expect(reason('empty.csv')).toBe('file is empty (0 bytes)');
    expect(reason('garbage.csv')).toBe('binary content (NUL byte at offset 2) in a csv file');
    expect(reason('link.csv')).toMatch(/symlinks are not followed/);
    expect(existsSync(join(outside, 'elsewhere.csv'))).toBe(true);
  });

  it('shares a folder between two processes: every file is read exactly once', async () => {
    const f = dropFolder();
    for (let i = 0; i < 40; i++) drop(f, `f${String(i).padStart(2, '0')}.csv`, 3, i * 10);
    const [a, b] = await Promise.all([
      run(f, {}, new CollectingSink(), join(f, '.state-a')),
      run(f, {}, new CollectingSink(), join(f, '.state-b')),
    ]);
    const all = [...skus(a.sink as CollectingSink), ...skus(b.sink as CollectingSink)];
    expect(all).toHaveLength(120);
    expect(new Set(all).size).toBe(120);
    expect(readdirSync(join(f, '.archive'))).toHaveLength(40);
  });

  it('gzips archives into dated folders', async () => {
    const f = dropFolder();
    const content = readFileSync(drop(f, 'z.csv', 3));
    await run(f, { archive: { dated: true, gzip: true } });
    const d = new Date().toISOString();
    const p = join(f, '.archive', d.slice(0, 4), d.slice(5, 7), d.slice(8, 10), 'z.csv.gz');
    expect(gunzipSync(readFileSync(p)).equals(content)).toBe(true);
  });

  it('never re-reads a committed file whose archiving failed, and archives it once possible', async () => {
    const f = dropFolder();
    drop(f, 'x.csv', 3);
    writeFileSync(join(f, 'blocked'), 'a file where the archive folder should be');
    const r1 = await run(f, { archive: { dir: 'blocked/sub', dated: false, gzip: false } });
    expect(r1.summary.recordsIn).toBe(3);
    const processing = readdirSync(join(f, '.processing'));
    expect(readdirSync(join(f, '.processing', processing[0]))).toHaveLength(1);
    mkdirSync(join(f, 'archive2'));
    const r2 = await run(f, { archive: { dir: 'archive2', dated: false, gzip: false } });
    expect(r2.summary.recordsIn).toBe(0);
    expect(readdirSync(join(f, 'archive2'))).toEqual(['x.csv']);
  });
});
