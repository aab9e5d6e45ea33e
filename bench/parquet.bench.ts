/**
 * Parquet sink: throughput vs parquetjs-lite on the same events, file size vs pyarrow for the same rows and codec,
 * and peak RSS as the input grows.
 *   ./node_modules/.bin/node bench/parquet.bench.ts [events=1000000] [parquetjsEvents=200000]
 * Pins itself to one core with `taskset -c 0` when available (writer thread included), unless BENCH_NO_PIN=1.
 * Targets (issue #6): ≥ 400,000 events/s into snappy Parquet on one core, ≥ 10× parquetjs-lite; files within
 * 1.2× of pyarrow's size; memory bounded by the rolling limits, not by input size.
 *
 * Events come from a pool of 100,000 distinct generator events (store sales, 50 stores, 5,000 SKUs, some
 * attributes), written in batches of 1,000 as the engine does and flushed every 256 batches.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeneratorSource, type GeneratorOptions } from '../connectors/generator/index.ts';
import { parquetSink, type ParquetSinkOptions } from '../connectors/parquet/index.ts';
import type { ParquetSink } from '../connectors/parquet/sink.ts';
import type { InventoryEvent } from '../runtime/contracts/event.ts';
import type { Logger } from '../runtime/contracts/spi.ts';
import { machine, report, rssSampler } from './lib.ts';

const args = process.argv.slice(2);
const PINNED = process.env.PARQUET_BENCH_PINNED === '1';

// Re-run pinned to one core: "on one core" includes the writer thread and GC threads.
if (!PINNED && args[0] !== '--rss' && process.env.BENCH_NO_PIN !== '1' && spawnSync('taskset', ['--version']).status === 0) {
  const r = spawnSync('taskset', ['-c', '0', process.execPath, import.meta.filename, ...args], {
    stdio: 'inherit',
    env: { ...process.env, PARQUET_BENCH_PINNED: '1' },
  });
  process.exit(r.status ?? 1);
}

const log: Logger = { debug() {}, info() {}, warn() {}, error: (o) => console.error(o), child: () => log };
const BATCH = 1000;
const FLUSH_EVERY = 256;
const POOL = 100_000;

function pool(n: number): InventoryEvent[][] {
  const o: GeneratorOptions = {
    count: 0,
    rate: 0,
    seed: 7,
    stores: 50,
    skus: 5000,
    start: '2026-11-21T08:00:00Z',
    stepMs: 250,
    returnRate: 0.05,
    shape: 'event',
    system: 'store-pos',
  };
  const gen = new GeneratorSource(o, { pipeline: 'bench' } as never);
  const batches: InventoryEvent[][] = [];
  for (let b = 0; b < n / BATCH; b++) {
    const receivedAt = new Date(Date.UTC(2026, 10, 21, 8) + b * 1000).toISOString(); // one string per batch, as the engine does
    const batch: InventoryEvent[] = [];
    for (let i = 0; i < BATCH; i++) {
      const k = b * BATCH + i;
      const e = gen.record(k).value as InventoryEvent;
      e.source.receivedAt = receivedAt;
      e.source.pipeline = 'bench';
      e.source.mapping = 'identity';
      e.attributes = k % 4 === 0 ? { channel: k % 8 === 0 ? 'web' : 'store', promo: `P${k % 13}` } : {};
      batch.push(e);
    }
    batches.push(batch);
  }
  return batches;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function dirBytes(dir: string): { bytes: number; files: string[] } {
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.parquet') && !f.startsWith('_'));
  return { bytes: files.reduce((n, f) => n + statSync(join(dir, f)).size, 0), files };
}

async function ours(batches: InventoryEvent[][], n: number, opts: Partial<ParquetSinkOptions> = {}, onFlush?: (events: number) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-parquet-'));
  const options: ParquetSinkOptions = {
    path: dir,
    createPath: false,
    partitionBy: ['event_date'],
    rollRows: 1_000_000,
    rollBytes: 256 * 1024 * 1024,
    rollSeconds: 300,
    compression: 'snappy',
    compressionLevel: 3,
    rowGroupSize: 131_072,
    pageRows: 20_000,
    maxOpenFiles: 64,
    manifest: false,
    attributes: 'map',
    fsync: true,
    writerThread: true,
    ...opts,
  };
  const sink = (await parquetSink.create(options, {
    pipeline: 'bench',
    baseDir: dir,
    stateDir: dir,
    log,
    sink: { pipeline: 'bench', log, state: undefined as never, deadLetter: async () => {} },
  })) as ParquetSink;
  const rss = rssSampler(20);
  const c0 = cpuMs();
  const t0 = performance.now();
  let pending: Promise<void>[] = [];
  for (let b = 0; b < n / BATCH; b++) {
    pending.push(sink.write(batches[b % batches.length], {}));
    if (pending.length === FLUSH_EVERY) {
      await sink.flush();
      await Promise.all(pending);
      pending = [];
      onFlush?.((b + 1) * BATCH);
    }
  }
  await sink.flush();
  await Promise.all(pending);
  const secs = (performance.now() - t0) / 1000;
  const cpu = (cpuMs() - c0) / 1000;
  const peak = rss.stop();
  await sink.close();
  const out = dirBytes(dir);
  return { dir, rate: Math.round(n / secs), secs, cpu, peak, ...out };
}

async function parquetjs(batches: InventoryEvent[][], n: number) {
  const mod = 'parquetjs-lite'; // untyped CommonJS package (devDependency, for this comparison only)
  const parquet = ((await import(mod)) as { default: any }).default;
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-parquetjs-'));
  const s = (type: string, optional = false) => ({ type, optional, compression: 'SNAPPY' });
  const schema = new parquet.ParquetSchema({
    event_id: s('UTF8'),
    event_type: s('UTF8'),
    sku: s('UTF8'),
    gtin: s('UTF8', true),
    location_id: s('UTF8'),
    location_type: s('UTF8', true),
    quantity: s('INT64'), // thousandths: parquetjs-lite writes no DECIMAL
    unit_of_measure: s('UTF8'),
    occurred_at: s('TIMESTAMP_MICROS'), // legacy annotation only: no isAdjustedToUTC
    document_id: s('UTF8', true),
    document_line: s('UTF8', true),
    source_system: s('UTF8'),
    source_connector: s('UTF8'),
    source_record_ref: s('UTF8'),
    source_received_at: s('TIMESTAMP_MICROS', true),
    source_pipeline: s('UTF8', true),
    source_mapping: s('UTF8', true),
    attributes: s('UTF8', true), // JSON: no MAP support
    schema_version: s('INT32'),
  });
  const file = join(dir, 'events.parquet');
  const rss = rssSampler(20);
  const c0 = cpuMs();
  const t0 = performance.now();
  const writer = await parquet.ParquetWriter.openFile(schema, file, { rowGroupSize: 131_072 });
  for (let b = 0; b < n / BATCH; b++) {
    for (const e of batches[b % batches.length]) {
      await writer.appendRow({
        event_id: e.eventId,
        event_type: e.eventType,
        sku: e.sku,
        gtin: e.gtin ?? undefined,
        location_id: e.locationId,
        location_type: e.locationType ?? undefined,
        quantity: Math.round(Number(e.quantity) * 1000),
        unit_of_measure: e.unitOfMeasure,
        occurred_at: Date.parse(e.occurredAt) * 1000,
        document_id: e.references?.documentId ?? undefined,
        document_line: e.references?.documentLine ?? undefined,
        source_system: e.source.system,
        source_connector: e.source.connector,
        source_record_ref: e.source.recordRef,
        source_received_at: Date.parse(e.source.receivedAt) * 1000,
        source_pipeline: e.source.pipeline ?? undefined,
        source_mapping: e.source.mapping ?? undefined,
        attributes: e.attributes ? JSON.stringify(e.attributes) : undefined,
        schema_version: e.schemaVersion,
      });
    }
  }
  await writer.close();
  const secs = (performance.now() - t0) / 1000;
  const cpu = (cpuMs() - c0) / 1000;
  const peak = rss.stop();
  const bytes = statSync(file).size;
  rmSync(dir, { recursive: true, force: true });
  return { rate: Math.round(n / secs), secs, cpu, peak, bytes };
}

const PYARROW_REWRITE = `
import json, sys, os
import pyarrow.parquet as pq
src, dst, codec = sys.argv[1], sys.argv[2], sys.argv[3]
t = pq.read_table(src)
pq.write_table(t, dst, compression=codec)
print(json.dumps({"ours": os.path.getsize(src), "pyarrow": os.path.getsize(dst), "rows": t.num_rows, "version": __import__("pyarrow").__version__}))
`;

/** The same rows and codec written by pyarrow (defaults: dictionary on, 1 Mi rows per row group). */
function sizeVsPyarrow(file: string, codec: 'snappy' | 'zstd'): { ours: number; pyarrow: number; rows: number; version: string } | string {
  const probe = spawnSync('python3', ['-c', 'import pyarrow'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'pyarrow not installed (pip install pyarrow): size comparison skipped';
  const dst = `${file}.pyarrow-${codec}.parquet`;
  const r = spawnSync('python3', ['-c', PYARROW_REWRITE, file, dst, codec], { encoding: 'utf8' });
  if (r.status !== 0) return `pyarrow failed: ${r.stderr.trim().split('\n').at(-1)}`;
  return JSON.parse(r.stdout);
}

// ---- child mode: RSS as the input grows, in a fresh process -----------------------------------------------------
// Peak RSS over the first 2 M events (warm-up: a 131,072-row group per open file, V8 sizing its heaps) and over the
// whole run: with memory bounded by the rolling limits the second is no higher than the first.
if (args[0] === '--rss') {
  const n = Number(args[1]);
  const batches = pool(50_000);
  let warm = 0;
  const sampler = rssSampler(20);
  let peakSoFar = 0;
  const t = setInterval(() => (peakSoFar = Math.max(peakSoFar, process.memoryUsage.rss())), 20);
  const r = await ours(batches, n, {}, (events) => {
    if (events <= 2_000_000) warm = Math.round(Math.max(peakSoFar, process.memoryUsage.rss()) / 2 ** 20);
  });
  clearInterval(t);
  sampler.stop();
  rmSync(r.dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ n, warmPeak: warm, peak: r.peak, rate: r.rate })}\n`);
  process.exit(0);
}

const N = Number(args[0] ?? 1_000_000);
const NJS = Number(args[1] ?? 200_000);
const where = `${machine()}${PINNED ? ', pinned to 1 core (taskset -c 0)' : ', not pinned'}`;
const batches = pool(POOL);

await ours(batches, 100_000).then((r) => rmSync(r.dir, { recursive: true, force: true })); // warm-up (JIT)

const snappy = await ours(batches, N);
report({
  bench: 'parquet',
  case: `ours: ${N.toLocaleString('en-US')} events → snappy Parquet, partitioned by event_date, batches of ${BATCH}, fsync`,
  metric: 'throughput',
  value: snappy.rate,
  unit: 'events/s',
  target: '≥ 400,000 on one core',
  ok: snappy.rate >= 400_000,
  cpuSecondsPerMillion: +((snappy.cpu / N) * 1e6).toFixed(2),
  eventsPerCpuSecond: Math.round(N / snappy.cpu),
  peakRssMb: snappy.peak,
  bytesPerEvent: +(snappy.bytes / N).toFixed(1),
  files: snappy.files.length,
  machine: where,
});

const zstd = await ours(batches, N, { compression: 'zstd' });
report({
  bench: 'parquet',
  case: `ours: ${N.toLocaleString('en-US')} events → zstd(3) Parquet`,
  metric: 'throughput',
  value: zstd.rate,
  unit: 'events/s',
  cpuSecondsPerMillion: +((zstd.cpu / N) * 1e6).toFixed(2),
  eventsPerCpuSecond: Math.round(N / zstd.cpu),
  peakRssMb: zstd.peak,
  bytesPerEvent: +(zstd.bytes / N).toFixed(1),
  machine: where,
});
rmSync(zstd.dir, { recursive: true, force: true });

const js = await parquetjs(batches, NJS);
report({
  bench: 'parquet',
  case: `parquetjs-lite 0.8: ${NJS.toLocaleString('en-US')} of the same events → snappy (INT64 thousandths, legacy TIMESTAMP_MICROS, JSON attributes)`,
  metric: 'throughput',
  value: js.rate,
  unit: 'events/s',
  cpuSecondsPerMillion: +((js.cpu / NJS) * 1e6).toFixed(2),
  eventsPerCpuSecond: Math.round(NJS / js.cpu),
  peakRssMb: js.peak,
  bytesPerEvent: +(js.bytes / NJS).toFixed(1),
  machine: where,
});
report({
  bench: 'parquet',
  case: 'ours vs parquetjs-lite, same events, snappy',
  metric: 'speed-up',
  value: +(snappy.rate / js.rate).toFixed(1),
  unit: '×',
  target: '≥ 10',
  ok: snappy.rate / js.rate >= 10,
  cpuSpeedUp: +(js.cpu / NJS / (snappy.cpu / N)).toFixed(1),
  machine: where,
});

// Size: one unpartitioned file of the same rows, rewritten by pyarrow with the same codec.
for (const codec of ['snappy', 'zstd'] as const) {
  const one = await ours(batches, FLUSH_EVERY * BATCH, { partitionBy: [], compression: codec });
  const file = join(one.dir, one.files[0]);
  const r = sizeVsPyarrow(file, codec);
  if (typeof r === 'string') report({ bench: 'parquet', case: `file size vs pyarrow (${codec})`, metric: 'size ratio', value: Number.NaN, unit: '×', note: r });
  else
    report({
      bench: 'parquet',
      case: `file size vs pyarrow ${r.version} (${codec}, ${r.rows.toLocaleString('en-US')} rows, pyarrow defaults)`,
      metric: 'size ratio',
      value: +(r.ours / r.pyarrow).toFixed(3),
      unit: '×',
      target: '≤ 1.2',
      ok: r.ours / r.pyarrow <= 1.2,
      oursBytes: r.ours,
      pyarrowBytes: r.pyarrow,
    });
  rmSync(one.dir, { recursive: true, force: true });
}
rmSync(snappy.dir, { recursive: true, force: true });

// Memory with growing input: 8 M events in a fresh process, peak RSS after 2 M vs over the whole run.
const RSS_EVENTS = Number(process.env.PARQUET_BENCH_RSS_EVENTS ?? 8_000_000);
const child = spawnSync(process.execPath, [import.meta.filename, '--rss', String(RSS_EVENTS)], { encoding: 'utf8' });
if (child.status !== 0) throw new Error(`rss child failed: ${child.stderr}`);
const mem = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { n: number; warmPeak: number; peak: number; rate: number };
report({
  bench: 'parquet',
  case: `peak RSS over ${mem.n.toLocaleString('en-US')} events vs over the first 2,000,000 (rowGroupSize 131,072, one open file per day)`,
  metric: 'peak RSS',
  value: mem.peak,
  unit: 'MB',
  peakAfter2MillionMb: mem.warmPeak,
  target: `flat: ${mem.n / 2_000_000}× the input, < 1.2× the memory`,
  ok: mem.peak < mem.warmPeak * 1.2,
  machine: where,
});
