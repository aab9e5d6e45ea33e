/**
 * Worker pools against a real redis-server: 3 `stockbridge worker` processes (the real CLI, spawned) share one drop
 * folder and one Redis.
 *
 *  1. 1,000 dropped files are processed exactly once overall: every line's event is in exactly one worker's output,
 *     once; every file is archived once; the queue ends with 1,000 completed jobs and no failure.
 *  2. The worker holding the watcher lock is SIGKILLed mid-run, while it has files in progress and files are still
 *     being dropped: another worker takes the watcher lock over (higher fencing token) and enqueues the rest, the dead
 *     worker's jobs are recovered by BullMQ's stalled-job check and finished by the others from the shared byte-offset
 *     checkpoints. Nothing is lost; the only duplicates are lines the dead worker had written but not committed, and
 *     they carry the ids already emitted.
 *  3. Redis hangs for longer than the watcher lock: the pool waits, the lock is taken again, nothing lost or doubled.
 *  4. A source only one member may run (singleton): a standby takes over from the fenced shared checkpoint.
 *  5. A worker stopped with SIGTERM mid-file hands its files back; the next one resumes right after the last commit.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { WorkerRecord } from '../../runtime/scaling/heartbeat.ts';
import { filesQueueName, poolKeys, WORKERS_KEY, workerKey } from '../../runtime/scaling/keys.ts';
import { pipelineKeyPrefix } from '../../runtime/state/redis-store.ts';
import { redisUrl, uniqueName } from '../harness/services.ts';
import { cli, cliSpawn } from '../support/cli.ts';

const MAPPING = `mapping: scaling-test
version: 1
input:
  format: csv
  delimiter: ','
  header: true
source:
  system: store-pos
let:
  qty: decimal(qty)
event:
  eventType: "'SALE'"
  sku: sku
  locationId: store
  locationType: "'STORE'"
  quantity: -abs($qty)
  unitOfMeasure: "'EA'"
  occurredAt: "'2026-01-01T00:00:00Z'"
  attributes:
    file: $meta.file
`;

interface Pool {
  dir: string;
  drops: string;
  out: string;
  pipeline: string;
  file: string;
}

function makePool(): Pool {
  const dir = mkdtempSync(join(tmpdir(), 'sb-scaling-'));
  const drops = join(dir, 'drops');
  const out = join(dir, 'out');
  mkdirSync(drops);
  mkdirSync(out);
  const pipeline = uniqueName('scale').replace(/[^A-Za-z0-9_.-]/g, '-');
  writeFileSync(join(dir, 'mapping.yaml'), MAPPING);
  // One pipeline file for every worker; each writes its own output file (SB_OUT), so the test can see who emitted what.
  writeFileSync(
    join(dir, 'pipeline.yaml'),
    `pipeline: ${pipeline}
source:
  type: file-drop
  path: drops
  include: ["*.csv"]
  minAgeMs: 0
  stableMs: 0
  pollIntervalMs: 100
mapping: mapping.yaml
sinks:
  - type: jsonl
    path: \${env:SB_OUT}
    fsync: false
delivery:
  batchSize: 50
`,
  );
  return { dir, drops, out, pipeline, file: join(dir, 'pipeline.yaml') };
}

/** Drops files atomically (written as .tmp, renamed): `n` lines each, store S<i>, sku SKU<j>. */
function dropFiles(pool: Pool, from: number, to: number, lines: number): void {
  for (let i = from; i < to; i++) {
    let s = 'store,sku,qty\n';
    for (let j = 1; j <= lines; j++) s += `S${i},SKU${j},${(j % 9) + 1}\n`;
    const tmp = join(pool.drops, `f${String(i).padStart(5, '0')}.csv.tmp`);
    writeFileSync(tmp, s);
    renameSync(tmp, tmp.slice(0, -4));
  }
}

const children: ChildProcess[] = [];
const logs = new Map<ChildProcess, string[]>();

function startWorker(pool: Pool, n: number, extra: string[] = []): ChildProcess {
  const c = cliSpawn(
    ['worker', pool.file, '--redis', redisUrl(), '--concurrency', '6', '--heartbeat', '500', '--json', ...extra],
    { env: { SB_OUT: join(pool.out, `w${n}.jsonl`), STOCKBRIDGE_LOG_LEVEL: 'info' } },
  );
  const lines: string[] = [];
  logs.set(c, lines);
  let buf = '';
  c.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) if (!l.includes('"level":"info"') || lines.length < 2000) lines.push(l);
  });
  let stdout = '';
  c.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  (c as ChildProcess & { stdoutText: () => string }).stdoutText = () => stdout;
  children.push(c);
  return c;
}

function exited(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
  return new Promise((resolve) => c.once('exit', (code, signal) => resolve({ code, signal })));
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function archived(pool: Pool): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: import('node:fs').Dirent[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(e.name);
    }
  };
  walk(join(pool.drops, '.archive'));
  return out.sort();
}

interface Emitted {
  byWorker: Map<number, Array<{ eventId: string; ref: string }>>;
  all: Array<{ eventId: string; ref: string; worker: number }>;
}

/** Every event written by the workers; a torn last line of a killed worker (never acknowledged) is ignored. */
function emitted(pool: Pool): Emitted {
  const byWorker = new Map<number, Array<{ eventId: string; ref: string }>>();
  const all: Emitted['all'] = [];
  for (const f of readdirSync(pool.out)) {
    const worker = Number(f.match(/^w(\d+)\.jsonl$/)?.[1]);
    const lines = readFileSync(join(pool.out, f), 'utf8').split('\n');
    const list: Array<{ eventId: string; ref: string }> = [];
    lines.forEach((l, i) => {
      if (!l) return;
      let e: { eventId: string; source: { recordRef: string } };
      try {
        e = JSON.parse(l);
      } catch (err) {
        if (i === lines.length - 1) return; // torn last line
        throw err;
      }
      list.push({ eventId: e.eventId, ref: e.source.recordRef });
      all.push({ eventId: e.eventId, ref: e.source.recordRef, worker });
    });
    byWorker.set(worker, list);
  }
  return { byWorker, all };
}

/** `f00012.csv@<sha12>:7` → `f00012.csv:7` (line 1 is the header: data lines are 2..n+1). */
const lineOf = (ref: string) => ref.replace(/@[0-9a-f]{12}:/, ':');

function expectedLines(from: number, to: number, lines: number): Set<string> {
  const s = new Set<string>();
  for (let i = from; i < to; i++) for (let j = 2; j <= lines + 1; j++) s.add(`f${String(i).padStart(5, '0')}.csv:${j}`);
  return s;
}

let redis: Redis | undefined;
function conn(): Redis {
  redis ??= new Redis(redisUrl(), { maxRetriesPerRequest: null });
  return redis;
}

async function queueCounts(pool: Pool) {
  const q = new Queue(filesQueueName(pool.pipeline), { connection: conn() });
  try {
    return await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
  } finally {
    await q.close();
  }
}

async function stopAll(list: ChildProcess[]): Promise<Array<{ code: number | null; signal: NodeJS.Signals | null }>> {
  for (const c of list) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  return Promise.all(list.map(exited));
}

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await redis?.quit();
});

function dumpLogs(list: ChildProcess[]): string {
  return list.map((c, i) => `--- worker ${i + 1} (pid ${c.pid})\n${(logs.get(c) ?? []).filter((l) => !l.includes('"level":"info"')).slice(-30).join('\n')}`).join('\n');
}

describe('worker pools (real stockbridge worker processes, real redis-server)', () => {
  it('processes 1,000 dropped files exactly once overall and archives each once', async () => {
    const pool = makePool();
    const FILES = 1000;
    const LINES = 10;
    const workers = [1, 2, 3].map((n) => startWorker(pool, n));
    // all three registered before the files arrive, so the work is shared from the start
    await waitFor('3 workers registered', async () => {
      const s = cli(['status', '--redis', redisUrl(), '--json']);
      const st = JSON.parse(s.stdout) as { workers: Array<{ pipeline: string; alive: boolean }> };
      return st.workers.filter((w) => w.pipeline === pool.pipeline && w.alive).length === 3;
    }, 60_000);
    dropFiles(pool, 0, FILES, LINES);
    try {
      await waitFor('all files archived and jobs completed', async () => {
        const c = await queueCounts(pool);
        return archived(pool).length === FILES && c.completed === FILES && c.active === 0 && c.waiting === 0;
      }, 150_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\narchived ${archived(pool).length}, queue ${JSON.stringify(await queueCounts(pool))}\n${dumpLogs(workers)}`);
    }

    // status while the pool is idle: 3 workers, one watcher, the queue's counts, throughput of the last minute
    const status = JSON.parse(cli(['status', '--redis', redisUrl(), '--json']).stdout) as {
      workers: Array<{ pipeline: string; role: string; alive: boolean; filesDone: number }>;
      queues: Array<{ name: string; counts: { completed: number; failed: number }; lag: { waiting: number } }>;
      throughput: Array<{ pipeline: string; recordsPerSecond: number; eventsPerSecond: number }>;
    };
    const mine = status.workers.filter((w) => w.pipeline === pool.pipeline);
    expect(mine).toHaveLength(3);
    expect(mine.filter((w) => w.role === 'watcher')).toHaveLength(1);
    expect(status.queues.find((q) => q.name === filesQueueName(pool.pipeline))).toMatchObject({ counts: { completed: FILES, failed: 0 }, lag: { waiting: 0 } });
    expect(status.throughput.find((t) => t.pipeline === pool.pipeline)!.eventsPerSecond).toBeGreaterThan(0);
    const human = cli(['status', '--redis', redisUrl()]).stdout;
    expect(human).toContain('WORKERS (');
    expect(human).toContain(filesQueueName(pool.pipeline));

    const exits = await stopAll(workers);
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    // graceful stop removes the workers from the registry
    const after = JSON.parse(cli(['status', '--redis', redisUrl(), '--json']).stdout) as { workers: Array<{ pipeline: string }> };
    expect(after.workers.filter((w) => w.pipeline === pool.pipeline)).toHaveLength(0);

    // exactly once: every line's event once, across the three outputs
    const { all, byWorker } = emitted(pool);
    const lines = all.map((e) => lineOf(e.ref));
    expect(new Set(lines)).toEqual(expectedLines(0, FILES, LINES));
    expect(all).toHaveLength(FILES * LINES);
    expect(new Set(all.map((e) => e.eventId)).size).toBe(FILES * LINES);
    // the work was shared (each worker's summary counts what it did)
    const perWorker = [1, 2, 3].map((n) => byWorker.get(n)?.length ?? 0);
    expect(perWorker.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    const summaries = workers.map((w) => JSON.parse((w as ChildProcess & { stdoutText: () => string }).stdoutText().trim().split('\n').pop()!));
    expect(summaries.reduce((a, s) => a + s.eventsOut, 0)).toBe(FILES * LINES);
    // every file archived once, nothing left behind
    const names = archived(pool);
    expect(names).toHaveLength(FILES);
    expect(new Set(names).size).toBe(FILES);
    expect(readdirSync(pool.drops).filter((n) => !n.startsWith('.'))).toEqual([]);
    expect(readdirSync(join(pool.drops, '.queued'))).toEqual([]);
    expect(await conn().hlen(poolKeys(pool.pipeline).queued)).toBe(0);
    console.log(`1,000 files exactly once: events per worker ${perWorker.join(' / ')}`);
  });

  it('a SIGKILLed watcher: the lock is handed over, its jobs are finished by the others, nothing is lost', async () => {
    const pool = makePool();
    const FIRST = 60;
    const TOTAL = 120;
    const LINES = 2000;
    const opts = ['--lock-ttl', '3000', '--job-lock', '8000'];
    const workers = [1, 2, 3].map((n) => startWorker(pool, n, opts));
    const keys = poolKeys(pool.pipeline);
    const cpKey = `${pipelineKeyPrefix(pool.pipeline)}cp`;
    const q = new Queue(filesQueueName(pool.pipeline), { connection: conn() });
    await waitFor('a watcher', async () => (await conn().get(keys.watcherLock)) ?? undefined, 60_000);
    dropFiles(pool, 0, FIRST, LINES);

    // the watcher, once it is busy with files of its own (worker records read straight from Redis: fast polling)
    const victim = await waitFor(
      'the watcher working on files',
      async () => {
        const ids = await conn().zrange(WORKERS_KEY, 0, -1);
        const recs = ids.length ? await conn().mget(...ids.map(workerKey)) : [];
        const ws = recs.filter(Boolean).map((r) => JSON.parse(r!) as WorkerRecord);
        const w = ws.find((x) => x.pipeline === pool.pipeline && x.role === 'watcher');
        if (!w || w.currentJobs.length < 2 || w.filesDone === 0) return undefined;
        // ... and has committed part of a file (a checkpoint past the start), so the resume is visible
        const cps = Object.values(await conn().hgetall(cpKey)).map((v) => JSON.parse(v) as { state: string; line: number; job: string });
        for (const cp of cps.filter((c) => c.state === 'reading' && c.line > 200)) {
          const job = await Job.fromId(q, cp.job);
          if (job?.processedBy === w.id && (await job.isActive())) return w;
        }
        return undefined;
      },
      60_000,
      50,
    );
    const lockBefore = (await conn().get(keys.watcherLock))!;
    const tokenBefore = Number(lockBefore.split(' ')[1]);
    const child = workers.find((c) => c.pid === victim.pid)!;
    expect(child).toBeDefined();
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await exited(child);
    const victimN = workers.indexOf(child) + 1;
    // the jobs the dead worker held (BullMQ records the worker's name on the jobs it takes)
    const held = (await q.getActive(0, -1)).filter((j) => j.processedBy === victim.id).map((j) => String(j.id));
    // the shared checkpoints of those jobs, frozen at the moment of death
    const frozen = Object.values(await conn().hgetall(cpKey))
      .map((v) => JSON.parse(v) as { name: string; line: number; job: string; state: string })
      .filter((cp) => held.includes(cp.job) && cp.line > 1);
    // more files arrive after the watcher died: only a new watcher can enqueue them
    dropFiles(pool, FIRST, TOTAL, LINES);

    const survivors = workers.filter((c) => c !== child);
    try {
      await waitFor('all files archived and jobs completed', async () => {
        const c = await queueCounts(pool);
        return archived(pool).length === TOTAL && c.completed === TOTAL && c.active === 0 && c.waiting === 0;
      }, 150_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\narchived ${archived(pool).length}, queue ${JSON.stringify(await queueCounts(pool))}\n${dumpLogs(workers)}`);
    }
    const recoveredIn = Date.now() - killedAt;

    // the lock moved to a survivor, with a larger fencing token
    const lockAfter = (await conn().get(keys.watcherLock))!;
    expect(Number(lockAfter.split(' ')[1])).toBeGreaterThan(tokenBefore);
    expect(lockAfter.split(' ')[0]).not.toBe(lockBefore.split(' ')[0]);
    // the killed worker shows as lost in status
    const st = JSON.parse(cli(['status', '--redis', redisUrl(), '--json']).stdout) as { workers: Array<{ pid: number; alive: boolean }> };
    expect(st.workers.find((w) => w.pid === victim.pid)?.alive).toBe(false);

    const exits = await stopAll(survivors);
    expect(exits.map((e) => e.code)).toEqual([0, 0]);

    // nothing lost: every line of every file has its event
    const { all, byWorker } = emitted(pool);
    const expected = expectedLines(0, TOTAL, LINES);
    expect(new Set(all.map((e) => lineOf(e.ref)))).toEqual(expected);
    // duplicates: only lines the killed worker had written but not committed, re-emitted with the same id
    const idOf = new Map<string, string>();
    for (const e of all) {
      const prev = idOf.get(e.ref);
      if (prev) expect(e.eventId).toBe(prev);
      else idOf.set(e.ref, e.eventId);
    }
    const survivorRefs = new Set(all.filter((e) => e.worker !== victimN).map((e) => e.ref));
    const victimRefs = (byWorker.get(victimN) ?? []).map((e) => e.ref);
    const duplicates = all.length - expected.size;
    // survivors never emitted a line twice between themselves
    expect(all.filter((e) => e.worker !== victimN).length).toBe(survivorRefs.size);
    // each duplicate is a victim line that a survivor emitted again
    expect(victimRefs.filter((r) => survivorRefs.has(r)).length).toBe(duplicates);
    expect(victimRefs.length).toBeGreaterThan(0);
    // every file archived once; the dead worker's files were finished by the survivors
    const names = archived(pool);
    expect(names).toHaveLength(TOTAL);
    expect(new Set(names).size).toBe(TOTAL);
    expect(readdirSync(join(pool.drops, '.queued'))).toEqual([]);
    expect(await conn().hlen(keys.queued)).toBe(0);
    // the dead worker's jobs: taken back by BullMQ's stalled-job check, then completed by a survivor
    const completed = await q.getCompleted(0, TOTAL);
    await q.close();
    expect(completed).toHaveLength(TOTAL);
    expect(held.length).toBeGreaterThan(0);
    const recovered = completed.filter((j) => held.includes(String(j.id)));
    expect(recovered).toHaveLength(held.length);
    expect(completed.filter((j) => j.stalledCounter > 0).map((j) => String(j.id)).sort()).toEqual([...held].sort());
    for (const j of recovered) {
      expect(j.attemptsStarted).toBeGreaterThan(1);
      expect((j.returnvalue as { worker: string }).worker).not.toBe(victim.id);
    }
    expect(completed.every((j) => (j.returnvalue as { worker: string }).worker !== victim.id || j.finishedOn! < killedAt)).toBe(true);
    // resumed from the shared checkpoint: the survivor emitted exactly the lines from the checkpoint on; the lines
    // before it came from the victim only
    expect(frozen.length).toBeGreaterThan(0);
    for (const cp of frozen) {
      const lineNo = (e: { ref: string }) => Number(e.ref.slice(e.ref.lastIndexOf(':') + 1));
      const ofFile = (e: { ref: string }) => lineOf(e.ref).startsWith(`${cp.name}:`);
      const bySurvivors = all.filter((e) => e.worker !== victimN && ofFile(e)).map(lineNo);
      // (a checkpoint at the end of the file: every line was committed, only the archiving was left)
      expect(bySurvivors).toHaveLength(LINES + 2 - cp.line);
      if (bySurvivors.length) expect(Math.min(...bySurvivors)).toBe(cp.line);
      const byVictim = new Set(all.filter((e) => e.worker === victimN && ofFile(e)).map(lineNo));
      for (let l = 2; l < cp.line; l++) expect(byVictim.has(l)).toBe(true);
    }
    const resumed = frozen;
    console.log(
      `SIGKILL (victim held ${held.length} jobs): recovered in ${(recoveredIn / 1000).toFixed(1)} s; ${recovered.length} job(s) taken back from the dead worker (${resumed.length} resumed mid-file); ` +
        `${duplicates} duplicate line(s) re-emitted with the same ids out of ${expected.size}`,
    );
  });

  it('Redis unresponsive for a few seconds (longer than the watcher lock): the pool waits and carries on, nothing lost or doubled', async () => {
    const pool = makePool();
    const FILES = 120;
    const LINES = 1500;
    const workers = [1, 2, 3].map((n) => startWorker(pool, n, ['--lock-ttl', '3000']));
    const keys = poolKeys(pool.pipeline);
    await waitFor('a watcher', async () => (await conn().get(keys.watcherLock)) ?? undefined, 60_000);
    const tokenBefore = Number((await conn().get(keys.watcherLock))!.split(' ')[1]);
    dropFiles(pool, 0, FILES, LINES);
    await waitFor('some files done', () => archived(pool).length >= 10, 60_000, 50);
    const before = archived(pool).length;
    // every client's commands wait (workers, BullMQ, heartbeats): as if Redis hung; longer than the watcher lock's expiry
    const admin = new Redis(redisUrl());
    await admin.call('CLIENT', 'PAUSE', '6000', 'ALL');
    await new Promise((r) => setTimeout(r, 6500));
    await admin.quit();
    try {
      await waitFor('all files archived and jobs completed', async () => {
        const c = await queueCounts(pool);
        return archived(pool).length === FILES && c.completed === FILES && c.active === 0 && c.waiting === 0;
      }, 120_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\narchived ${archived(pool).length}, queue ${JSON.stringify(await queueCounts(pool))}\n${dumpLogs(workers)}`);
    }
    expect(before).toBeLessThan(FILES); // the pause happened mid-run
    // the watcher lock expired during the pause and was taken again, with a new token
    expect(Number((await conn().get(keys.watcherLock))!.split(' ')[1])).toBeGreaterThan(tokenBefore);
    const exits = await stopAll(workers);
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
    const { all } = emitted(pool);
    expect(new Set(all.map((e) => lineOf(e.ref)))).toEqual(expectedLines(0, FILES, LINES));
    // job locks (30 s) outlived the pause: no job was taken over, so no line was emitted twice
    expect(all).toHaveLength(FILES * LINES);
    expect(new Set(archived(pool)).size).toBe(FILES);
  });

  it('a source only one member may run (generator here; scheduled extracts alike): one runs it, a standby takes over from the shared checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-singleton-'));
    const out = join(dir, 'out');
    mkdirSync(out);
    const pipeline = uniqueName('single').replace(/[^A-Za-z0-9_.-]/g, '-');
    const COUNT = 6000;
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      `pipeline: ${pipeline}\nsource:\n  type: generator\n  count: ${COUNT}\n  rate: 1500\nmapping: identity\nsinks:\n  - type: jsonl\n    path: \${env:SB_OUT}\n    fsync: false\ndelivery:\n  batchSize: 100\n`,
    );
    const pool = { dir, drops: dir, out, pipeline, file: join(dir, 'pipeline.yaml') };
    const workers = [1, 2].map((n) => startWorker(pool, n, ['--lock-ttl', '2000']));
    const keys = poolKeys(pipeline);
    const lockValue = await waitFor('a singleton holder', async () => (await conn().get(keys.singletonLock)) ?? undefined, 60_000);
    const holderId = lockValue.split(' ')[0];
    const recs = async () => {
      const ids = await conn().zrange(WORKERS_KEY, 0, -1);
      const raw = ids.length ? await conn().mget(...ids.map(workerKey)) : [];
      return raw.filter(Boolean).map((r) => JSON.parse(r!) as WorkerRecord).filter((w) => w.pipeline === pipeline);
    };
    const holder = await waitFor('the holder producing', async () => (await recs()).find((w) => w.id === holderId && w.recordsIn >= 1500), 60_000, 50);
    expect((await recs()).find((w) => w.id !== holderId)?.role).toBe('standby');
    const victim = workers.find((c) => c.pid === holder.pid)!;
    victim.kill('SIGKILL');
    await exited(victim);
    const victimN = workers.indexOf(victim) + 1;
    const survivor = workers.find((c) => c !== victim)!;
    // the standby takes the lock over (new token) and finishes from the shared checkpoint
    await waitFor('every record out', () => new Set(emitted(pool).all.map((e) => e.ref)).size === COUNT, 60_000);
    const after = (await conn().get(keys.singletonLock))!;
    expect(Number(after.split(' ')[1])).toBeGreaterThan(Number(lockValue.split(' ')[1]));
    // once finished, the holder keeps the lock: nobody runs the drained source again
    await new Promise((r) => setTimeout(r, 1500));
    expect(await conn().get(keys.singletonLock)).toBe(after);
    const exits = await stopAll([survivor]);
    expect(exits[0].code).toBe(0);
    const { all, byWorker } = emitted(pool);
    expect(new Set(all.map((e) => e.ref)).size).toBe(COUNT);
    const survivorRefs = (byWorker.get(3 - victimN) ?? []).map((e) => e.ref);
    expect(survivorRefs.length).toBeLessThan(COUNT); // resumed, not restarted
    // duplicates bounded by the uncommitted window, with the same ids
    expect(all.length - COUNT).toBeLessThanOrEqual(64 * 100);
    const idOf = new Map<string, string>();
    for (const e of all) {
      if (idOf.has(e.ref)) expect(e.eventId).toBe(idOf.get(e.ref));
      idOf.set(e.ref, e.eventId);
    }
  });

  it('a worker stopped with SIGTERM mid-file hands its files back: resumed elsewhere after the last commit, no duplicates at all', async () => {
    const pool = makePool();
    const FILES = 30;
    const LINES = 5000;
    const workers = [1, 2].map((n) => startWorker(pool, n));
    const keys = poolKeys(pool.pipeline);
    const cpKey = `${pipelineKeyPrefix(pool.pipeline)}cp`;
    const q = new Queue(filesQueueName(pool.pipeline), { connection: conn() });
    await waitFor('a watcher', async () => (await conn().get(keys.watcherLock)) ?? undefined, 60_000);
    dropFiles(pool, 0, FILES, LINES);
    // stop a worker while it is in the middle of a file (a checkpoint past the start of a job it holds)
    const victim = await waitFor(
      'a worker mid-file',
      async () => {
        for (const v of Object.values(await conn().hgetall(cpKey))) {
          const cp = JSON.parse(v) as { state: string; line: number; job: string };
          if (cp.state !== 'reading' || cp.line < 500) continue;
          const job = await Job.fromId(q, cp.job);
          const w = job?.processedBy ? workers.find((_, i) => (job.processedBy ?? '').includes(`-${workers[i].pid}-`)) : undefined;
          if (w && (await job!.isActive())) return w;
        }
        return undefined;
      },
      60_000,
      50,
    );
    victim.kill('SIGTERM');
    const exit = await exited(victim);
    expect(exit.code).toBe(0);
    const victimN = workers.indexOf(victim) + 1;
    const summary = JSON.parse((victim as ChildProcess & { stdoutText: () => string }).stdoutText().trim().split('\n').pop()!);
    expect(summary.status).toBe('stopped');
    await waitFor('all files archived', async () => {
      const c = await queueCounts(pool);
      return archived(pool).length === FILES && c.completed === FILES && c.active === 0 && c.waiting === 0;
    }, 120_000);
    await q.close();
    await stopAll(workers);
    const { all } = emitted(pool);
    // graceful: everything delivered was committed first, so the resume starts exactly after it: no duplicates
    expect(all).toHaveLength(FILES * LINES);
    expect(new Set(all.map((e) => lineOf(e.ref)))).toEqual(expectedLines(0, FILES, LINES));
    // the files it handed back mid-way: the survivor's lines start right after the stopped worker's last one
    const lineNo = (e: { ref: string }) => Number(e.ref.slice(e.ref.lastIndexOf(':') + 1));
    const byFile = new Map<string, { victim: number[]; survivor: number[] }>();
    for (const e of all) {
      const name = lineOf(e.ref).split(':')[0];
      if (!byFile.has(name)) byFile.set(name, { victim: [], survivor: [] });
      byFile.get(name)![e.worker === victimN ? 'victim' : 'survivor'].push(lineNo(e));
    }
    const handedBack = [...byFile.values()].filter((f) => f.victim.length && f.survivor.length);
    expect(handedBack.length).toBeGreaterThan(0);
    for (const f of handedBack) expect(Math.min(...f.survivor)).toBe(Math.max(...f.victim) + 1);
  });
});
