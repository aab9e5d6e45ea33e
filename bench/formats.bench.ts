/**
 * Input-format decode throughput and memory.
 *
 *   ./node_modules/.bin/node bench/formats.bench.ts [--rows=1000000] [--only=csv,jsonl] [--runs=3] [--chunk=65536]
 *
 * Generates synthetic store-sales files (~1M lines, ~100 bytes and 10 fields per CSV line) under the OS temp
 * directory, then decodes each in a fresh child process (so peak RSS is per case), reading the file in chunks the
 * way the file source does. Prints one JSON line per case: rows/s and MB/s (median and best of the runs) and the
 * child's peak RSS. Timing includes reading the file from the page cache, not generating it.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BoundFormat } from '../runtime/contracts/spi.ts';
import { bindFormat } from '../runtime/formats/index.ts';

interface Case {
  name: string;
  format: string;
  options: Record<string, unknown>;
  /** One data line (with terminator) for row i; `header` goes first. */
  line: (i: number) => string;
  header?: string;
  footer?: string;
  encoding?: BufferEncoding;
}

const DESCS = [
  'ACME Cordless Drill 18V Li-Ion',
  'Organic Whole Milk 1L',
  'Garden Hose 25m Green',
  'LED Bulb E27 806lm 2-pack',
  'Notebook A5 dotted, 120 pages',
  'Café Crème Beans 1kg',
];

function fields(i: number) {
  const qty = (i % 5) + 1;
  const price = ((i * 37) % 9999) / 100 + 0.5;
  return {
    store: String(1000 + (i % 250)),
    ts: `2026-11-21T${String(8 + (i % 12)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}`,
    pos: String(i % 12).padStart(2, '0'),
    receipt: String(100000000 + Math.floor(i / 3)),
    lineNo: String((i % 3) + 1),
    sku: String(4006381000000 + ((i * 7919) % 999983)),
    desc: DESCS[i % DESCS.length],
    qty: String(qty),
    price: price.toFixed(2),
    amount: (qty * price).toFixed(2),
  };
}

const CSV_HEADER = 'store_id,business_ts,pos_id,receipt_no,line_no,sku,description,qty,unit_price,amount\n';

const CASES: Case[] = [
  {
    name: 'csv',
    format: 'csv',
    options: {},
    header: CSV_HEADER,
    line: (i) => {
      const f = fields(i);
      const desc = f.desc.includes(',') ? `"${f.desc}"` : f.desc;
      return `${f.store},${f.ts},${f.pos},${f.receipt},${f.lineNo},${f.sku},${desc},${f.qty},${f.price},${f.amount}\n`;
    },
  },
  {
    name: 'csv-all-quoted-crlf',
    format: 'csv',
    options: {},
    header: CSV_HEADER.replace('\n', '\r\n'),
    line: (i) =>
      `${Object.values(fields(i))
        .map((v) => `"${v}"`)
        .join(',')}\r\n`,
  },
  {
    name: 'csv-windows-1252',
    format: 'csv',
    options: { encoding: 'windows-1252', delimiter: ';' },
    header: CSV_HEADER.replace(/,/g, ';'),
    encoding: 'latin1',
    line: (i) => `${Object.values(fields(i)).join(';')}\n`,
  },
  {
    name: 'fixed-width',
    format: 'fixed-width',
    options: {
      columns: [
        { name: 'store', width: 4 },
        { name: 'ts', width: 19 },
        { name: 'pos', width: 2 },
        { name: 'receipt', width: 9 },
        { name: 'lineNo', width: 2 },
        { name: 'sku', width: 13 },
        { name: 'desc', width: 30 },
        { name: 'qty', width: 5 },
        { name: 'price', width: 8 },
        { name: 'amount', width: 9 },
      ],
    },
    line: (i) => {
      const f = fields(i);
      return `${f.store}${f.ts}${f.pos}${f.receipt}${f.lineNo.padStart(2)}${f.sku}${f.desc.padEnd(30)}${f.qty.padStart(5)}${f.price.padStart(8)}${f.amount.padStart(9)}\n`;
    },
  },
  {
    name: 'jsonl',
    format: 'jsonl',
    options: {},
    line: (i) => `${JSON.stringify(fields(i))}\n`,
  },
  {
    name: 'json',
    format: 'json',
    options: { recordPath: '$.lines' },
    header: '{"batch":"2026-11-21","lines":[\n',
    line: (i) => `${i === 0 ? '' : ','}${JSON.stringify(fields(i))}\n`,
    footer: ']}\n',
  },
  {
    name: 'xml',
    format: 'xml',
    options: { recordPath: '/Sales/Line' },
    header: '<?xml version="1.0" encoding="UTF-8"?>\n<Sales batch="2026-11-21">\n',
    line: (i) => {
      const f = fields(i);
      return `<Line store="${f.store}"><Ts>${f.ts}</Ts><Pos>${f.pos}</Pos><Receipt>${f.receipt}</Receipt><No>${f.lineNo}</No><Sku>${f.sku}</Sku><Desc>${f.desc}</Desc><Qty>${f.qty}</Qty><Price>${f.price}</Price><Amount>${f.amount}</Amount></Line>\n`;
    },
    footer: '</Sales>\n',
  },
];

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v = 'true'] = a.replace(/^--/, '').split('=');
    return [k, v] as const;
  }),
);
const ROWS = Number(args.get('rows') ?? 1_000_000);
const RUNS = Number(args.get('runs') ?? 3);
const CHUNK = Number(args.get('chunk') ?? 65_536);
const DIR = join(tmpdir(), 'stockbridge-bench-formats');

function fileFor(c: Case): string {
  return join(DIR, `${c.name}-${ROWS}.dat`);
}

/** Writes the case's file once (reused by later runs). */
function generate(c: Case): string {
  const path = fileFor(c);
  if (existsSync(path)) return path;
  mkdirSync(DIR, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  const enc = c.encoding ?? 'utf8';
  let batch = c.header ?? '';
  for (let i = 0; i < ROWS; i++) {
    batch += c.line(i);
    if (batch.length > 1 << 20) {
      writeSync(fd, Buffer.from(batch, enc));
      batch = '';
    }
  }
  batch += c.footer ?? '';
  writeSync(fd, Buffer.from(batch, enc));
  closeSync(fd);
  renameSync(tmp, path);
  return path;
}

/** Child: decode the file `runs` times, report the timings and the peak RSS. */
function child(c: Case): void {
  const format: BoundFormat = bindFormat(c.format, c.options, process.cwd());
  const path = fileFor(c);
  const size = statSync(path).size;
  const baseline = process.memoryUsage().rss;
  const times: number[] = [];
  const cpu: number[] = [];
  let rows = 0;
  let errors = 0;
  for (let run = 0; run < RUNS; run++) {
    rows = 0;
    errors = 0;
    const fd = openSync(path, 'r');
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const d = format.streamDecoder({ file: path, offset: 0, line: 1 });
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      for (const r of d.push(n === CHUNK ? buf : buf.subarray(0, n))) {
        if (r.error) errors++;
        else rows++;
      }
    }
    for (const r of d.end()) {
      if (r.error) errors++;
      else rows++;
    }
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c1 = process.cpuUsage(c0);
    cpu.push((c1.user + c1.system) / 1e6);
    closeSync(fd);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const best = sorted[0];
  const cpuMedian = [...cpu].sort((a, b) => a - b)[Math.floor(cpu.length / 2)];
  const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'formats',
      case: c.name,
      format: c.format,
      rows,
      errors,
      bytes: size,
      bytesPerRow: Math.round(size / Math.max(1, rows)),
      chunk: CHUNK,
      runs: RUNS,
      seconds: times.map((t) => Math.round(t * 1000) / 1000),
      rowsPerSec: Math.round(rows / median),
      rowsPerSecBest: Math.round(rows / best),
      mbPerSec: Math.round(size / median / 1e6),
      // CPU time of this process (user + system, all threads incl. GC helpers): less sensitive to other load.
      cpuSeconds: cpu.map((t) => Math.round(t * 1000) / 1000),
      rowsPerCpuSec: Math.round(rows / cpuMedian),
      peakRssMiB: mib(process.resourceUsage().maxRSS * 1024),
      baselineRssMiB: mib(baseline),
      node: process.version,
    })}\n`,
  );
}

const only = args.get('only')?.split(',');
const selected = CASES.filter((c) => !only || only.includes(c.name) || only.includes(c.format));
const which = args.get('case');
if (which) {
  child(CASES.find((c) => c.name === which)!);
} else {
  for (const c of selected) generate(c);
  const self = fileURLToPath(import.meta.url);
  for (const c of selected) {
    const r = spawnSync(
      process.execPath,
      [self, `--case=${c.name}`, `--rows=${ROWS}`, `--runs=${RUNS}`, `--chunk=${CHUNK}`],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    if (r.status !== 0) process.exitCode = 1;
  }
}
