/**
 * `stockbridge status --redis URL`: what a worker pool is doing, read from Redis only (no worker is asked).
 *
 *   workers     from the heartbeat registry: id, host, pid, pipeline, role, current jobs, last heartbeat, alive
 *   queues      every BullMQ queue of stockbridge on this Redis (`bull:stockbridge-*`: file jobs, SAP postings):
 *               waiting / active / completed / failed / delayed, lag (waiting jobs, age of the oldest), recent failures
 *   throughput  per pipeline, records/s and events/s over the last minute (the workers' per-second counters)
 *   rejected    files a watcher sent to the error folder before they became jobs (empty, binary, duplicate, …)
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BULL_PREFIX, poolKeys, WORKERS_KEY, workerKey } from './keys.ts';
import type { WorkerRecord } from './heartbeat.ts';

export interface QueueStatus {
  name: string;
  counts: { waiting: number; active: number; completed: number; failed: number; delayed: number; paused: number; prioritized: number };
  lag: { waiting: number; oldestWaitingAgeMs: number | null };
  failures: Array<{ id: string; name: string; file?: string; reason: string; attempts: number; failedAt: string | null }>;
}

export interface RejectedFile {
  pipeline: string;
  file: string;
  reason: string;
  movedTo: string;
  at: string;
}

export interface PoolStatus {
  at: string;
  /** Files the watcher sent to the error folder before they became jobs (empty, binary, duplicate, …), newest first. */
  rejectedFiles: RejectedFile[];
  workers: Array<WorkerRecord & { alive: boolean; heartbeatAgeMs: number }>;
  queues: QueueStatus[];
  throughput: Array<{ pipeline: string; windowSeconds: number; recordsPerSecond: number; eventsPerSecond: number; filesPerMinute: number }>;
}

const LOST_AFTER_BEATS = 3;
const PRUNE_AFTER_MS = 3_600_000;

export async function collectStatus(redis: Redis, opts: { failures?: number; windowSeconds?: number } = {}): Promise<PoolStatus> {
  const now = Date.now();
  const window = opts.windowSeconds ?? 60;
  // workers
  await redis.zremrangebyscore(WORKERS_KEY, '-inf', now - PRUNE_AFTER_MS);
  const ids = await redis.zrange(WORKERS_KEY, 0, -1);
  const raw = ids.length ? await redis.mget(...ids.map(workerKey)) : [];
  const workers: PoolStatus['workers'] = [];
  raw.forEach((r) => {
    if (!r) return;
    const w = JSON.parse(r) as WorkerRecord;
    const age = now - Date.parse(w.lastHeartbeat);
    workers.push({ ...w, heartbeatAgeMs: age, alive: age <= LOST_AFTER_BEATS * (w.heartbeatMs || 1000) + 500 });
  });
  workers.sort((a, b) => a.pipeline.localeCompare(b.pipeline) || a.id.localeCompare(b.id));

  // queues: every stockbridge BullMQ queue on this Redis
  const names = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${BULL_PREFIX}:stockbridge-*:meta`, 'COUNT', 500);
    cursor = next;
    for (const k of keys) names.add(k.slice(BULL_PREFIX.length + 1, -':meta'.length));
  } while (cursor !== '0');
  for (const w of workers) if (w.queue) names.add(w.queue);
  const queues: QueueStatus[] = [];
  for (const name of [...names].sort()) {
    const q = new Queue(name, { connection: redis, prefix: BULL_PREFIX });
    try {
      const c = await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'paused', 'prioritized');
      const oldest = (await q.getJobs(['wait'], 0, 0, true))[0];
      const failed = await q.getFailed(0, (opts.failures ?? 10) - 1);
      queues.push({
        name,
        counts: {
          waiting: c.waiting ?? 0,
          active: c.active ?? 0,
          completed: c.completed ?? 0,
          failed: c.failed ?? 0,
          delayed: c.delayed ?? 0,
          paused: c.paused ?? 0,
          prioritized: c.prioritized ?? 0,
        },
        lag: { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), oldestWaitingAgeMs: oldest ? now - oldest.timestamp : null },
        failures: failed.filter(Boolean).map((j) => ({
          id: String(j.id),
          name: j.name,
          file: (j.data as { name?: string })?.name,
          reason: j.failedReason ?? '',
          attempts: j.attemptsMade,
          failedAt: j.finishedOn ? new Date(j.finishedOn).toISOString() : null,
        })),
      });
    } finally {
      await q.close();
    }
  }

  // throughput over the last `window` whole seconds
  const pipelines = new Set(workers.map((w) => w.pipeline));
  const throughput: PoolStatus['throughput'] = [];
  const nowSec = Math.floor(now / 1000);
  for (const p of [...pipelines].sort()) {
    const k = poolKeys(p);
    const m = redis.multi();
    for (let s = nowSec - window; s < nowSec; s++) m.hmget(k.rate(s), 'recordsIn', 'eventsOut', 'filesDone');
    const res = (await m.exec()) ?? [];
    let records = 0;
    let events = 0;
    let files = 0;
    for (const [err, v] of res) {
      if (err) continue;
      const [r, e, f] = v as Array<string | null>;
      records += Number(r ?? 0);
      events += Number(e ?? 0);
      files += Number(f ?? 0);
    }
    throughput.push({
      pipeline: p,
      windowSeconds: window,
      recordsPerSecond: Math.round(records / window),
      eventsPerSecond: Math.round(events / window),
      filesPerMinute: Math.round((files * 60) / window),
    });
  }
  // files rejected by a watcher before they became jobs, for every pipeline seen (workers or file queues)
  const known = new Set(pipelines);
  const fileQueuePrefix = 'stockbridge-files-';
  for (const n of names) if (n.startsWith(fileQueuePrefix)) known.add(n.slice(fileQueuePrefix.length));
  const rejectedFiles: RejectedFile[] = [];
  for (const p of [...known].sort()) {
    for (const raw of await redis.lrange(poolKeys(p).rejected, 0, (opts.failures ?? 10) - 1)) {
      try {
        rejectedFiles.push({ pipeline: p, ...(JSON.parse(raw) as Omit<RejectedFile, 'pipeline'>) });
      } catch {
        // not ours
      }
    }
  }
  return { at: new Date(now).toISOString(), workers, queues, throughput, rejectedFiles };
}

function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

function age(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function formatStatus(s: PoolStatus): string {
  const out: string[] = [];
  const alive = s.workers.filter((w) => w.alive).length;
  out.push(`WORKERS (${alive} alive${s.workers.length > alive ? `, ${s.workers.length - alive} lost` : ''})`);
  if (s.workers.length === 0) out.push('  none registered');
  else
    out.push(
      table([
        ['ID', 'HOST', 'PID', 'PIPELINE', 'ROLE', 'HEARTBEAT', 'STATE', 'CURRENT JOBS'],
        ...s.workers.map((w) => [
          w.id,
          w.host,
          String(w.pid),
          w.pipeline,
          w.role,
          `${age(w.heartbeatAgeMs)} ago`,
          w.alive ? 'alive' : 'LOST',
          w.currentJobs.length ? w.currentJobs.join(', ') : '-',
        ]),
      ]).replace(/^/gm, '  '),
    );
  out.push('', 'QUEUES');
  if (s.queues.length === 0) out.push('  none');
  else
    out.push(
      table([
        ['QUEUE', 'WAITING', 'ACTIVE', 'DELAYED', 'COMPLETED', 'FAILED', 'OLDEST WAITING'],
        ...s.queues.map((q) => [
          q.name,
          String(q.lag.waiting),
          String(q.counts.active),
          String(q.counts.delayed),
          String(q.counts.completed),
          String(q.counts.failed),
          age(q.lag.oldestWaitingAgeMs),
        ]),
      ]).replace(/^/gm, '  '),
    );
  out.push('', 'THROUGHPUT (last minute)');
  if (s.throughput.length === 0) out.push('  -');
  else
    out.push(
      table([
        ['PIPELINE', 'RECORDS/S', 'EVENTS/S', 'FILES/MIN'],
        ...s.throughput.map((t) => [t.pipeline, String(t.recordsPerSecond), String(t.eventsPerSecond), String(t.filesPerMinute)]),
      ]).replace(/^/gm, '  '),
    );
  const failures = s.queues.flatMap((q) => q.failures.map((f) => ({ ...f, queue: q.name })));
  out.push('', `FAILURES${failures.length || s.rejectedFiles.length ? '' : ' (none)'}`);
  for (const f of failures) out.push(`  ${f.queue}  job ${f.id}${f.file ? ` (${f.file})` : ''}  ${f.failedAt ?? ''}  attempts ${f.attempts}: ${f.reason}`);
  for (const r of s.rejectedFiles) out.push(`  ${r.pipeline}  file ${r.file}  ${r.at}  not queued: ${r.reason} (→ ${r.movedTo})`);
  return `${out.join('\n')}\n`;
}
