/**
 * Worker-pool scaling: file drops through a CPU-heavy mapping (decimal arithmetic, regexes, splits/joins, date
 * parsing and formatting in three zones, ~20 computed fields per record) with 1, 2 and 3 `stockbridge worker`
 * processes (the real CLI) sharing one drop folder and one Redis.
 *
 *   ./node_modules/.bin/node bench/scaling.bench.ts [files=240] [lines=1000] [repeats=3] [concurrency=2]
 *
 * Each run: start N workers on an empty folder, wait until all N have a heartbeat, warm them up (3 small files per
 * worker: the mapping gets JIT-compiled in every process), then move the files in (one rename each) and time until
 * the queue has every job completed (every file mapped, delivered and archived). Startup and warm-up are not timed:
 * this is the steady-state throughput of the pool. Best of `repeats` per N. Each result also says how many CPU cores
 * the workers got and how much CPU everything else used meanwhile (a busy machine shows there, not as a slow pool).
 * Interleaved with those runs, the same files split over 1 and 2 independent `stockbridge run --once` processes (no
 * Redis, no pool) give the machine's own 2-process ceiling for this workload, and the pool's figure relative to it. Target (issue #9): 2 workers ≥ 1.7× one worker on a 2-core machine; the 3-worker
 * figure is recorded. Workers are started with `taskset -c 0-<n-1>` when taskset exists (bench/run.ts pins benches
 * to one core; a pool needs them all). Uses $REDIS_URL, or starts a private redis-server from the test harness.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { filesQueueName, WORKERS_KEY, workerKey } from '../runtime/scaling/keys.ts';
import { pipelineKeyPrefix } from '../runtime/state/redis-store.ts';
import { machine, report } from './lib.ts';

const FILES = Number(process.argv[2] ?? 240);
const LINES = Number(process.argv[3] ?? 1000);
const REPEATS = Number(process.argv[4] ?? 3);
const CONCURRENCY = Number(process.argv[5] ?? 2);
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'cli', 'stockbridge.mjs');
const NCPU = cpus().length;

const MAPPING = `mapping: bench-cpu
version: 1
input:
  format: csv
  delimiter: ','
  header: true
source:
  system: bench
let:
  qty: decimal(qty)
  price: decimal(price)
  amount: round($qty * $price, 2)
  gross: round($amount * 1.19, 2)
  words: split(lower(trim(description)), ' ')
  slug: join($words, '-')
  at: parseDate(date & time, 'yyyyMMddHHmmss', 'Europe/Paris')
  clean: matches(description, '^([A-Za-z]+ ?)+$') and matches(sku, '^SKU[0-9]{6}$') and matches(store, '^S[0-9]+$')
event:
  eventType: if($qty < 0, 'RETURN', 'SALE')
  sku: sku
  locationId: store
  locationType: "'STORE'"
  quantity: abs($qty)
  unitOfMeasure: "'EA'"
  occurredAt: $at
  references:
    documentId: store & '-' & date & '-' & ticket
    documentLine: line
  attributes:
    amount: text($amount)
    gross: padStart(text($gross), 14, '0')
    net: text(round($gross - $amount, 2))
    slug: $slug
    code: upper(replace($slug, '-', '_'))
    words: text(length($words))
    day: formatDate($at, 'yyyy-MM-dd', 'Europe/Paris')
    week: formatDate($at, 'yyyy-MM-dd HH:mm', 'America/New_York')
    utc: formatDate($at, 'yyyyMMddHHmmss', 'UTC')
    clean: text($clean)
    tag1: concat(left(sku, 3), '/', right(sku, 4), '/', padEnd(store, 6, '_'))
    tag2: case($amount > 100, 'high', $amount > 10, 'mid', 'low')
    tag3: upper(substr(description, 2, 12)) & lower(substr(description, 10, 8))
    tag4: replace(replace(replace(description, 'a', '4'), 'e', '3'), 'o', '0')
    tag5: text(round(($qty * $price + 3.5) / 7, 4))
`;

const WORDS = ['fresh', 'organic', 'whole', 'milk', 'bread', 'apple', 'green', 'tea', 'dark', 'chocolate', 'large', 'eggs', 'olive', 'oil', 'rice', 'pasta'];

function csv(file: number): string {
  let s = 'store,sku,qty,price,description,date,time,ticket,line\n';
  for (let i = 0; i < LINES; i++) {
    const n = file * LINES + i;
    const d: string[] = [];
    for (let k = 0; k < 6; k++) d.push(WORDS[(n * 7 + k * 3) % WORDS.length]);
    const qty = (n % 7) - 1 || 2;
    s += `S${file},SKU${100000 + (n % 9000)},${qty},${((n % 300) / 7 + 1).toFixed(2)},${d.join(' ')},202601${String(1 + (n % 28)).padStart(2, '0')},${String(n % 24).padStart(2, '0')}${String(n % 60).padStart(2, '0')}00,T${n},${i + 1}\n`;
  }
  return s;
}

function startRedis(): { url: string; stop: () => void } {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: () => undefined };
  const name = `sb-bench-scaling-${process.pid}`;
  const script = join(ROOT, 'test', 'harness', 'redis.sh');
  const r = spawnSync('bash', [script, 'start', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot start redis-server: ${r.stderr}`);
  const url = spawnSync('cat', [join(ROOT, 'test', 'harness', '.run', name, 'url')], { encoding: 'utf8' }).stdout.trim();
  return { url, stop: () => spawnSync('bash', [script, 'clean', name]) };
}

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;

function spawnWorker(pipelineFile: string, url: string): ChildProcess {
  const args = [BIN, 'worker', pipelineFile, '--redis', url, '--concurrency', String(CONCURRENCY), '--heartbeat', '500', '--quiet'];
  const cmd = hasTaskset ? 'taskset' : process.execPath;
  const argv = hasTaskset ? ['-c', `0-${NCPU - 1}`, process.execPath, ...args] : args;
  const c = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, STOCKBRIDGE_LOG_LEVEL: 'warn' } });
  c.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system, all threads) a process has used so far; 0 when unknown. */
function procCpu(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICK;
  } catch {
    return 0;
  }
}

/** Busy and total CPU seconds of the whole machine so far (/proc/stat). */
function machineCpu(): { busy: number; total: number } {
  try {
    const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0) / TICK;
    return { busy: total - (v[3] + v[4]) / TICK, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

interface RunResult {
  secs: number;
  /** CPU cores the workers actually got on average during the timed window. */
  workerCores: number;
  /** CPU cores used by everything else on the machine meanwhile (other engineers, redis-server, this process). */
  otherCores: number;
}

async function runOnce(workers: number, staged: string, url: string, redis: Redis, run: number): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-scaling-'));
  const drops = join(dir, 'drops');
  mkdirSync(drops);
  const pipeline = `bench-scaling-${process.pid}-${workers}w-${run}`;
  writeFileSync(join(dir, 'mapping.yaml'), MAPPING);
  writeFileSync(
    join(dir, 'pipeline.yaml'),
    `pipeline: ${pipeline}\nsource:\n  type: file-drop\n  path: drops\n  include: ["*.csv"]\n  minAgeMs: 0\n  stableMs: 0\n  pollIntervalMs: 100\nmapping: mapping.yaml\nsinks:\n  - type: discard\n`,
  );
  const children = Array.from({ length: workers }, () => spawnWorker(join(dir, 'pipeline.yaml'), url));
  const queue = new Queue(filesQueueName(pipeline), { connection: redis });
  try {
    // all members up (heartbeats) before the files arrive
    for (let i = 0; ; i++) {
      const ids = await redis.zrange(WORKERS_KEY, 0, -1);
      const recs = ids.length ? await redis.mget(...ids.map(workerKey)) : [];
      const up = recs.filter((r) => r && (JSON.parse(r) as { pipeline: string }).pipeline === pipeline).length;
      if (up === workers) break;
      if (i > 600) throw new Error(`only ${up} of ${workers} workers came up`);
      await sleep(100);
    }
    // warm-up, not timed: a few files per worker so every process has compiled the mapping (JIT) and connected
    const warm = join(staged, '..', `${basename(staged)}-warm`);
    const warmFiles = readdirSync(warm).slice(0, 3 * workers);
    for (const f of warmFiles) spawnSync('cp', [join(warm, f), join(drops, f)]);
    for (;;) {
      const c = await queue.getJobCounts('completed');
      if (c.completed === warmFiles.length) break;
      await sleep(50);
    }
    // copy the staged files into a sibling folder, then move them in one rename each (same file system)
    const incoming = join(dir, 'incoming');
    mkdirSync(incoming);
    for (const f of readdirSync(staged)) spawnSync('cp', [join(staged, f), join(incoming, f)]);
    const cpu0 = children.reduce((a, c) => a + procCpu(c.pid), 0);
    const m0 = machineCpu();
    const t0 = performance.now();
    for (const f of readdirSync(incoming)) renameSync(join(incoming, f), join(drops, f));
    for (;;) {
      const c = await queue.getJobCounts('completed', 'failed', 'active', 'waiting');
      if (c.failed) throw new Error(`${c.failed} job(s) failed`);
      if (c.completed === FILES + warmFiles.length) break;
      await sleep(50);
    }
    const secs = (performance.now() - t0) / 1000;
    const used = children.reduce((a, c) => a + procCpu(c.pid), 0) - cpu0;
    const m1 = machineCpu();
    return { secs, workerCores: used / secs, otherCores: Math.max(0, (m1.busy - m0.busy - used) / secs) };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    const keys = await redis.keys(`${pipelineKeyPrefix(pipeline)}*`);
    if (keys.length) await redis.del(...keys);
  }
}

/**
 * The machine's own ceiling, no pool involved: the same files split over `n` independent `stockbridge run --once`
 * processes started together. Rate from the engines' own durations (startup excluded, JIT warm-up included).
 */
async function runIndependent(n: number, staged: string, run: number): Promise<{ secs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-scaling-indep-'));
  writeFileSync(join(dir, 'mapping.yaml'), MAPPING);
  const files = readdirSync(staged).sort();
  const procs: Array<Promise<number>> = [];
  for (let i = 0; i < n; i++) {
    const drops = join(dir, `drops-${i}`);
    mkdirSync(drops);
    for (const f of files.filter((_, k) => k % n === i)) spawnSync('cp', [join(staged, f), join(drops, f)]);
    const pipeline = join(dir, `p${i}.yaml`);
    writeFileSync(
      pipeline,
      `pipeline: bench-indep-${process.pid}-${run}-${n}-${i}\nsource:\n  type: file-drop\n  path: drops-${i}\n  include: ["*.csv"]\n  minAgeMs: 0\n  stableMs: 0\nmapping: mapping.yaml\nsinks:\n  - type: discard\n`,
    );
  }
  for (let i = 0; i < n; i++) {
    const args = [BIN, 'run', join(dir, `p${i}.yaml`), '--once', '--json', '--quiet', '--state-dir', join(dir, `state-${i}`)];
    const cmd = hasTaskset ? 'taskset' : process.execPath;
    const argv = hasTaskset ? ['-c', `0-${NCPU - 1}`, process.execPath, ...args] : args;
    procs.push(
      new Promise((resolveRun, reject) => {
        const c = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
        });
        c.on('exit', (code) => {
          if (code !== 0) return reject(new Error(`independent run exited ${code}`));
          resolveRun((JSON.parse(out.trim().split('\n').pop()!) as { durationMs: number }).durationMs);
        });
      }),
    );
  }
  const durations = await Promise.all(procs);
  return { secs: Math.max(...durations) / 1000 };
}

const { url, stop } = startRedis();
const redis = new Redis(url, { maxRetriesPerRequest: null });
try {
  const staged = mkdtempSync(join(tmpdir(), 'sb-bench-scaling-staged-'));
  for (let f = 0; f < FILES; f++) writeFileSync(join(staged, `store-${String(f).padStart(4, '0')}.csv`), csv(f));
  const warm = `${staged}-warm`;
  mkdirSync(warm);
  for (let f = 0; f < 9; f++) writeFileSync(join(warm, `warm-${f}.csv`), csv(FILES + f));
  const records = FILES * LINES;
  const load = loadavg()[0].toFixed(1);
  const best = new Map<number, RunResult>();
  const indep = new Map<number, number>();
  for (let r = 0; r < REPEATS; r++) {
    for (const n of [1, 2, 3]) {
      const res = await runOnce(n, staged, url, redis, r);
      process.stderr.write(
        `run ${r + 1}: ${n} worker(s) ${res.secs.toFixed(2)} s, ${Math.round(records / res.secs)} records/s; workers got ${res.workerCores.toFixed(2)} cores, others used ${res.otherCores.toFixed(2)}\n`,
      );
      if (!best.has(n) || res.secs < best.get(n)!.secs) best.set(n, res);
    }
    for (const n of [1, 2]) {
      const { secs } = await runIndependent(n, staged, r);
      process.stderr.write(`run ${r + 1}: ${n} independent process(es), no pool: ${secs.toFixed(2)} s, ${Math.round(records / secs)} records/s\n`);
      indep.set(n, Math.min(indep.get(n) ?? Number.POSITIVE_INFINITY, secs));
    }
  }
  const rate = (n: number) => Math.round(records / best.get(n)!.secs);
  for (const n of [1, 2, 3]) {
    const b = best.get(n)!;
    report({
      bench: 'scaling',
      case: `file drops, CPU-heavy mapping, ${n} worker(s) (--concurrency ${CONCURRENCY}): ${FILES} files × ${LINES.toLocaleString('en-US')} lines`,
      metric: 'throughput',
      value: rate(n),
      unit: 'records/s',
      seconds: Number(b.secs.toFixed(2)),
      // records per CPU-second of the workers: flat when the pool adds no overhead
      perWorkerCpuSecond: Math.round(records / (b.workerCores * b.secs)),
      workerCores: Number(b.workerCores.toFixed(2)),
      otherCores: Number(b.otherCores.toFixed(2)),
      bestOf: REPEATS,
      loadAvgAtStart: Number(load),
      machine: machine(),
    });
  }
  const s2 = rate(2) / rate(1);
  const s3 = rate(3) / rate(1);
  const busy = [1, 2, 3].some((n) => best.get(n)!.otherCores > 0.25);
  const note = busy ? 'other processes used CPU during the runs (otherCores): re-run on a quiet machine' : undefined;
  report({ bench: 'scaling', case: '2 workers vs 1 (CPU-heavy file drops)', metric: 'speedup', value: Number(s2.toFixed(2)), unit: '×', target: '≥ 1.7', ok: s2 >= 1.7, note, machine: machine() });
  report({ bench: 'scaling', case: `3 workers vs 1 on ${NCPU} cores (recorded)`, metric: 'speedup', value: Number(s3.toFixed(2)), unit: '×', note, machine: machine() });
  // what this machine allows for this workload without any pool: the ceiling the 2-worker figure compares with
  const ceiling = indep.get(1)! / indep.get(2)!;
  report({
    bench: 'scaling',
    case: '2 independent processes vs 1, no pool (same files split in two; machine ceiling for this workload)',
    metric: 'speedup',
    value: Number(ceiling.toFixed(2)),
    unit: '×',
    oneProcessRecordsPerSecond: Math.round(records / indep.get(1)!),
    twoProcessesRecordsPerSecond: Math.round(records / indep.get(2)!),
    poolVsCeiling: Number((s2 / ceiling).toFixed(2)),
    machine: machine(),
  });
} finally {
  await redis.quit();
  stop();
}
