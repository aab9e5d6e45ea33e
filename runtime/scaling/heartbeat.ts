/**
 * Worker heartbeats: every `intervalMs` a pool worker writes its status (`sb:worker:<id>`, JSON) and its heartbeat
 * time (`sb:workers` ZSET), and adds what it did since the last beat to the per-second counters of its pipeline
 * (`sb:{p}:pool:rate:<epoch s>`, kept 3 minutes) — `stockbridge status` sums the last minute of those for throughput.
 *
 * A worker that stops gracefully removes itself. One that dies stops beating: status shows it as lost (no heartbeat
 * for 3 intervals) with its last known role and jobs, until it is pruned an hour later.
 */
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { poolKeys, WORKERS_KEY, workerKey } from './keys.ts';

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  pipeline: string;
  /** files: BullMQ file jobs; shared: every worker runs the source (Kafka group, MQ queue); singleton: one at a time. */
  mode: 'files' | 'shared' | 'singleton';
  concurrency: number;
  queue?: string;
  startedAt: string;
  heartbeatMs: number;
}

export interface WorkerLive {
  /** watcher (holds the folder-watcher lock), singleton (runs the singleton source), member, standby, stopping. */
  role: 'watcher' | 'singleton' | 'member' | 'standby' | 'stopping';
  currentJobs: string[];
  recordsIn: number;
  eventsOut: number;
  filesDone: number;
  filesFailed: number;
}

export interface WorkerRecord extends WorkerInfo, WorkerLive {
  lastHeartbeat: string;
  /** Longest event-loop stall since the previous heartbeat (a busy or starved process renews its locks late). */
  loopDelayMaxMs: number;
}

export function workerIdFor(pipeline: string): string {
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${host}-${process.pid}-${Math.random().toString(36).slice(2, 6)}-${pipeline}`.slice(0, 200);
}

export class Heartbeat {
  readonly #r: Redis;
  readonly #info: WorkerInfo;
  readonly #live: () => WorkerLive;
  #timer: NodeJS.Timeout | undefined;
  #last = { recordsIn: 0, eventsOut: 0, filesDone: 0 };
  #beating: Promise<void> | undefined;
  readonly #loop = monitorEventLoopDelay({ resolution: 20 });

  constructor(redis: Redis, info: WorkerInfo, live: () => WorkerLive) {
    this.#r = redis;
    this.#info = info;
    this.#live = live;
  }

  start(): void {
    this.#loop.enable();
    void this.beat();
    this.#timer = setInterval(() => void this.beat(), this.#info.heartbeatMs);
    this.#timer.unref();
  }

  beat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async #beat(): Promise<void> {
    const live = this.#live();
    const now = Date.now();
    const rec: WorkerRecord = {
      ...this.#info,
      ...live,
      lastHeartbeat: new Date(now).toISOString(),
      loopDelayMaxMs: Math.round(this.#loop.max / 1e6),
    };
    this.#loop.reset();
    const d = {
      recordsIn: live.recordsIn - this.#last.recordsIn,
      eventsOut: live.eventsOut - this.#last.eventsOut,
      filesDone: live.filesDone - this.#last.filesDone,
    };
    const rate = poolKeys(this.#info.pipeline).rate(Math.floor(now / 1000));
    const m = this.#r.multi().set(workerKey(this.#info.id), JSON.stringify(rec), 'PX', 3_600_000).zadd(WORKERS_KEY, now, this.#info.id);
    if (d.recordsIn || d.eventsOut || d.filesDone) {
      m.hincrby(rate, 'recordsIn', d.recordsIn).hincrby(rate, 'eventsOut', d.eventsOut).hincrby(rate, 'filesDone', d.filesDone).expire(rate, 180);
    }
    try {
      await m.exec();
      this.#last = { recordsIn: live.recordsIn, eventsOut: live.eventsOut, filesDone: live.filesDone };
    } catch {
      // Redis unreachable: the deltas are published with the next beat that gets through.
    }
  }

  /** Graceful stop: a last beat (counters), then remove the worker from the registry. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#beating;
    await this.#beat();
    this.#loop.disable();
    await this.#r.multi().del(workerKey(this.#info.id)).zrem(WORKERS_KEY, this.#info.id).exec().catch(() => undefined);
  }
}
