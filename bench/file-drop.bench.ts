/**
 * Store file drops through the real pipeline: file-drop → store-sales mapping (CSV, lookup, zoned date parse)
 * → discard sink.
 *   ./node_modules/.bin/node bench/file-drop.bench.ts [sizeMB=1024] [smallFiles=10000]
 * Targets (issue #4): a 1 GB store CSV (~10 M lines) ≥ 400,000 lines/s on one core with RSS < 200 MB;
 * 10,000 small files (1 KB each) all processed at ≥ 500 files/s.
 */
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { builtinRegistry } from '../connectors/index.ts';
import { loadPipeline } from '../runtime/config/pipeline.ts';
import { preparePipeline } from '../runtime/engine/pipeline-runner.ts';
import { rootLogger, setLogLevel } from '../runtime/observability/log.ts';
import { machine, report, rssSampler } from './lib.ts';

setLogLevel('warn');
const sizeMB = Number(process.argv[2] === '--measure' ? 0 : (process.argv[2] ?? 1024));
const smallFiles = Number(process.argv[3] ?? 10_000);
const mapping = resolve(import.meta.dirname, '..', 'mappings', 'store-sales.yaml');
const OLD = Date.now() / 1000 - 3600;

const HEADER = 'store,sku,qty,type,date,time,ticket,line,price,description\n';
function line(i: number): string {
  const store = `S${String((i % 50) + 1).padStart(3, '0')}`;
  const sku = `SKU${String((i * 7919) % 100_000).padStart(6, '0')}`;
  const type = i % 20 === 0 ? 'RETURN' : i % 97 === 0 ? 'VOID' : 'SALE';
  const qty = type === 'RETURN' ? '-1' : String((i % 3) + 1);
  const s = i % 86_400;
  const time = `${String(Math.floor(s / 3600)).padStart(2, '0')}${String(Math.floor(s / 60) % 60).padStart(2, '0')}${String(s % 60).padStart(2, '0')}`;
  return `${store},${sku},${qty},${type},20261120,${time},T${Math.floor(i / 3)},${(i % 3) + 1},${(i % 90) + 1}.99,Article ${sku} standard retail unit\n`;
}

async function bigFile(dir: string, bytes: number): Promise<number> {
  const out = createWriteStream(join(dir, 'big.csv'));
  out.write(HEADER);
  let written = HEADER.length;
  let n = 0;
  let chunk = '';
  while (written < bytes) {
    const l = line(n++);
    chunk += l;
    written += l.length;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  utimesSync(join(dir, 'big.csv'), OLD, OLD);
  return n;
}

async function runPipeline(drops: string, work: string) {
  mkdirSync(work, { recursive: true });
  const file = join(work, 'p.yaml');
  writeFileSync(
    file,
    `pipeline: bench-drop\nsource:\n  type: file-drop\n  path: ${drops}\n  include: ["*.csv"]\n  minAgeMs: 0\n  stableMs: 0\n  afterSuccess: delete\n  duplicateWindowHours: 0\nmapping: ${mapping}\nsinks:\n  - type: discard\ndelivery:\n  batchSize: 2000\n`,
  );
  const cfg = loadPipeline(file, builtinRegistry());
  const p = await preparePipeline(cfg, { once: true, stateDir: join(work, 'state'), log: rootLogger() });
  const rss = rssSampler();
  const t0 = performance.now();
  const s = await p.engine.run();
  const secs = (performance.now() - t0) / 1000;
  const peak = rss.stop();
  await p.close();
  return { s, secs, peak };
}

// Measurements run in a child process, so the RSS figure is the pipeline's, not the data generator's.
if (process.argv[2] === '--measure') {
  const [, , , drops, work] = process.argv;
  const r = await runPipeline(drops, work);
  process.stdout.write(`${JSON.stringify({ recordsIn: r.s.recordsIn, rejected: r.s.recordsRejected, eventsOut: r.s.eventsOut, secs: r.secs, peak: r.peak })}\n`);
  process.exit(0);
}

function measure(drops: string, work: string) {
  const r = spawnSync(process.execPath, [import.meta.filename, '--measure', drops, work], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`measurement failed (${r.status})`);
  const out = r.stdout.trim().split('\n');
  return JSON.parse(out[out.length - 1]) as { recordsIn: number; rejected: number; eventsOut: number; secs: number; peak: number };
}

const root = mkdtempSync(join(tmpdir(), 'sb-bench-drop-'));
try {
  // 1. one big file
  const drops = join(root, 'drops');
  mkdirSync(drops);
  const lines = await bigFile(drops, sizeMB * 1024 * 1024);
  const big = measure(drops, join(root, 'w1'));
  if (big.recordsIn !== lines) throw new Error(`expected ${lines} records, got ${big.recordsIn}`);
  if (big.rejected !== 0) throw new Error(`unexpected rejects: ${big.rejected}`);
  const rate = Math.round(lines / big.secs);
  report({
    bench: 'file-drop',
    case: `${sizeMB} MB store CSV (${lines.toLocaleString('en-US')} lines) → store-sales mapping → discard`,
    metric: 'throughput',
    value: rate,
    unit: 'lines/s',
    target: '≥ 400,000',
    ok: rate >= 400_000,
    peakRssMb: big.peak,
    rssTarget: '< 200 MB',
    rssOk: big.peak < 200,
    eventsOut: big.eventsOut,
    machine: machine(),
  });

  // 2. many small files
  const small = join(root, 'small');
  mkdirSync(small);
  let k = 0;
  for (let f = 0; f < smallFiles; f++) {
    let s = HEADER;
    while (s.length < 1024) s += line(k++);
    const p = join(small, `sales_${String(f).padStart(5, '0')}.csv`);
    writeFileSync(p, s);
    utimesSync(p, OLD, OLD);
  }
  const r = measure(small, join(root, 'w2'));
  if (r.recordsIn !== k) throw new Error(`expected ${k} records, got ${r.recordsIn}`);
  const files = Math.round(smallFiles / r.secs);
  report({
    bench: 'file-drop',
    case: `${smallFiles.toLocaleString('en-US')} files of ~1 KB`,
    metric: 'throughput',
    value: files,
    unit: 'files/s',
    target: '≥ 500',
    ok: files >= 500,
    peakRssMb: r.peak,
    lines: k,
    machine: machine(),
  });
} finally {
  rmSync(root, { recursive: true, force: true });
}
