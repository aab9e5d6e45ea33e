/**
 * One member of a worker pool (`stockbridge worker <pipeline.yaml> --redis URL`). Every member runs the same
 * pipeline file against one Redis; what "sharing the work" means depends on the source:
 *
 *   files      (file-drop) one BullMQ job per dropped file. All members process jobs; the one holding the watcher
 *              lock also claims complete files into the shared queued area and enqueues them (runtime/scaling/
 *              watcher.ts). Jobs of a member that dies are recovered by BullMQ's stalled-job check and resumed by
 *              another member from the shared byte-offset checkpoint (runtime/scaling/file-jobs.ts).
 *   shared     (kafka, ibm-mq) every member runs the source: Kafka spreads partitions over the consumer group, MQ
 *              hands each message to one of the queue's consumers. Checkpoints, idempotency keys and dead letters
 *              live in the shared Redis store.
 *   singleton  (any other source: generator, file, scheduled extracts) exactly one member runs the pipeline, under a
 *              fenced lock; another takes over when it dies. Its checkpoint writes are fenced: a member that lost the
 *              lock cannot move the checkpoint.
 *
 * Every member publishes heartbeats and counters for `stockbridge status`.
 */
import { Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { PipelineConfig } from '../config/pipeline.ts';
import type { Logger, StateStore } from '../contracts/spi.ts';
import type { RunSummary } from '../engine/engine.ts';
import type { PreparedPipeline } from '../engine/pipeline-runner.ts';
import { connectRedis, RedisStateStore, redisOptions } from '../state/redis-store.ts';
import { assemblePipeline } from './assemble.ts';
import type { DropOptions, DropToolkit, FileJobData } from './drop-toolkit.ts';
import { FileJobSource } from './file-jobs.ts';
import { Heartbeat, type WorkerLive, workerIdFor } from './heartbeat.ts';
import { BULL_PREFIX, filesQueueName, poolKeys } from './keys.ts';
import { FENCE_CHECK, FencedLock, holdWhilePossible } from './lock.ts';
import { FolderWatcher } from './watcher.ts';

export type PoolMode = 'files' | 'shared' | 'singleton';

export function poolModeOf(sourceType: string): PoolMode {
  if (sourceType === 'file-drop') return 'files';
  if (sourceType === 'kafka' || sourceType === 'ibm-mq') return 'shared';
  return 'singleton';
}

export interface PoolWorkerOptions {
  redisUrl: string;
  /** File jobs worked on at once by this member (they share one engine and one set of sinks). */
  concurrency: number;
  stateDir?: string;
  /** Expiry of the watcher / singleton lock: how long a dead holder blocks the handover. */
  lockTtlMs: number;
  /** BullMQ job lock: a job of a dead member is taken back after about this long (also the stalled-check interval). */
  jobLockMs: number;
  /** A job whose worker died this many times fails for good (poison file). */
  maxStalledCount: number;
  heartbeatMs: number;
  log: Logger;
  /** The file-drop pieces (required for file-drop pipelines); handed in by the CLI. */
  drop?: DropToolkit;
  id?: string;
}

export interface WorkerResult {
  exitCode: number;
  summary?: RunSummary;
}

/** Job options of file jobs: no BullMQ-level retries for processing errors (rejections are final), bounded history. */
const FILE_JOB_OPTIONS = {
  attempts: 1,
  removeOnComplete: { age: 7 * 86_400, count: 50_000 },
  removeOnFail: { age: 30 * 86_400 },
};

export class PoolWorker {
  readonly id: string;
  readonly mode: PoolMode;
  readonly #cfg: PipelineConfig;
  readonly #o: PoolWorkerOptions;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #heartbeat: Heartbeat | undefined;
  #role: WorkerLive['role'] = 'member';
  #jobs: () => string[] = () => [];
  #counts = () => ({ recordsIn: 0, eventsOut: 0 });
  #filesDone = 0;
  #filesFailed = 0;
  /** Stops whatever is running now (engine, BullMQ worker). */
  #onStop: Array<() => void> = [];

  constructor(cfg: PipelineConfig, o: PoolWorkerOptions) {
    this.#cfg = cfg;
    this.#o = o;
    this.mode = poolModeOf(cfg.source.type);
    this.id = o.id ?? workerIdFor(cfg.name);
    this.#log = o.log.child({ worker: this.id });
  }

  /** Graceful stop: stop taking work, drain and commit what is in flight, hand unfinished jobs back. */
  stop(): void {
    if (this.#stop.signal.aborted) return;
    this.#role = 'stopping';
    this.#stop.abort();
    for (const f of this.#onStop) f();
  }

  async run(): Promise<WorkerResult> {
    const redis = connectRedis(this.#o.redisUrl, { connectionName: `stockbridge-worker:${this.id}` });
    const state = new RedisStateStore(redis, this.#cfg.name);
    this.#heartbeat = new Heartbeat(
      redis,
      {
        id: this.id,
        host: hostname(),
        pid: process.pid,
        pipeline: this.#cfg.name,
        mode: this.mode,
        concurrency: this.#o.concurrency,
        queue: this.mode === 'files' ? filesQueueName(this.#cfg.name) : undefined,
        startedAt: new Date().toISOString(),
        heartbeatMs: this.#o.heartbeatMs,
      },
      () => ({
        role: this.#role,
        currentJobs: this.#jobs(),
        ...this.#counts(),
        filesDone: this.#filesDone,
        filesFailed: this.#filesFailed,
      }),
    );
    this.#heartbeat.start();
    this.#log.info({ mode: this.mode, concurrency: this.#o.concurrency }, 'worker started');
    try {
      if (this.mode === 'files') return await this.#runFiles(state, redis);
      if (this.mode === 'shared') return await this.#runShared(state);
      return await this.#runSingleton(state, redis);
    } finally {
      await this.#heartbeat.stop().catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
    }
  }

  async #runShared(state: StateStore): Promise<WorkerResult> {
    const p = await assemblePipeline(this.#cfg, { state, log: this.#o.log, stateDir: this.#o.stateDir });
    this.#counts = () => p.engine.counts();
    this.#onStop.push(() => p.engine.stop());
    if (this.#stop.signal.aborted) p.engine.stop();
    const summary = await p.engine.run().finally(() => p.close());
    return { exitCode: summary.status === 'failed' ? 1 : 0, summary };
  }

  async #runSingleton(state: RedisStateStore, redis: Redis): Promise<WorkerResult> {
    const lock = new FencedLock(redis, poolKeys(this.#cfg.name).singletonLock, { ttlMs: this.#o.lockTtlMs, owner: this.id });
    this.#role = 'standby';
    let last: RunSummary | undefined;
    let failed = false;
    await holdWhilePossible(
      lock,
      this.#stop.signal,
      async (token, lost) => {
        this.#role = 'singleton';
        this.#log.info({ token }, 'this worker runs the singleton source');
        let p: PreparedPipeline | undefined;
        try {
          p = await assemblePipeline(this.#cfg, { state: fenceCheckpoints(state, redis, lock), log: this.#o.log, stateDir: this.#o.stateDir });
          const engine = p.engine;
          this.#counts = () => engine.counts();
          const onLost = () => engine.stop();
          lost.addEventListener('abort', onLost, { once: true });
          last = await engine.run();
          lost.removeEventListener('abort', onLost);
          if (last.status === 'failed') {
            failed = !/FENCED/.test(last.error ?? '');
            if (failed) this.stop();
          } else if (last.status === 'ok' && !lost.aborted) {
            // A finite source drained its input: keep the lock (and renew it) so nobody runs it again, until stop.
            this.#log.info({ recordsIn: last.recordsIn }, 'singleton source finished; holding the lock until stopped');
            await new Promise<void>((r) => (lost.aborted ? r() : lost.addEventListener('abort', () => r(), { once: true })));
          }
        } finally {
          await p?.close();
          if (this.#role === 'singleton') this.#role = 'standby';
        }
      },
      { onLost: (why) => this.#log.warn({ why }, 'singleton lock lost: stopping the source'), onError: (err) => this.#log.error({ err: err.message }, 'singleton run failed') },
    );
    return { exitCode: failed ? 1 : 0, summary: last };
  }

  async #runFiles(state: RedisStateStore, redis: Redis): Promise<WorkerResult> {
    const cfg = this.#cfg;
    const toolkit = this.#o.drop;
    if (!toolkit) throw new Error('file-drop pool needs the file-drop toolkit');
    const options = cfg.source.options as unknown as DropOptions;
    const folders = (Array.isArray(options.path) ? options.path : [options.path]).map((p) => resolve(cfg.baseDir, p));
    const { exists } = toolkit;
    for (const f of folders) if (!(await exists(f))) throw new Error(`drop folder ${f} does not exist`);
    const keys = poolKeys(cfg.name);
    const queueName = filesQueueName(cfg.name);
    const log = this.#log;

    let jobSource: FileJobSource | undefined;
    const p = await assemblePipeline(cfg, {
      state,
      log: this.#o.log,
      stateDir: this.#o.stateDir,
      sourceOverride: (ctx) => {
        jobSource = new FileJobSource({ ctx, state: ctx.state, redis, keys, options, folders, toolkit, log: ctx.log });
        return jobSource;
      },
    });
    const source = jobSource!;
    const engine = p.engine;
    this.#counts = () => engine.counts();
    this.#jobs = () => source.currentJobs();
    const engineRun = engine.run();

    // BullMQ: the queue (for the watcher's adds) shares our connection; the worker needs its own (blocking) one.
    const queue = new Queue(queueName, { connection: redis, prefix: BULL_PREFIX });
    const bull = new Worker<FileJobData>(
      queueName,
      async (job: Job<FileJobData>, token?: string) => {
        const outcome = await source.submit(job);
        if (outcome.kind === 'done') {
          this.#filesDone++;
          return { archived: outcome.archived, worker: this.id };
        }
        if (outcome.kind === 'rejected') {
          this.#filesFailed++;
          throw new UnrecoverableError(outcome.reason);
        }
        // Back to the queue: the next worker resumes after the last committed record.
        await job.moveToWait(token);
        throw new WaitingError();
      },
      {
        connection: redisOptions(connectionOptions(this.#o.redisUrl)),
        prefix: BULL_PREFIX,
        name: this.id,
        concurrency: this.#o.concurrency,
        lockDuration: this.#o.jobLockMs,
        stalledInterval: this.#o.jobLockMs,
        maxStalledCount: this.#o.maxStalledCount,
        removeOnComplete: FILE_JOB_OPTIONS.removeOnComplete,
        removeOnFail: FILE_JOB_OPTIONS.removeOnFail,
        autorun: false,
      },
    );
    bull.on('error', (err) => log.warn({ err: err.message }, 'job queue error'));
    bull.on('failed', (job, err) => {
      if (job && err.name !== 'WaitingError') log.warn({ file: job.data?.name, job: job.id, err: err.message }, 'file job failed');
    });
    const bullRun = bull.run().catch((err: Error) => log.error({ err: err.message }, 'job worker stopped'));

    // The folder watcher: whoever holds the lock claims and enqueues; handed over when its holder dies.
    const lock = new FencedLock(redis, keys.watcherLock, { ttlMs: this.#o.lockTtlMs, owner: this.id });
    const watcher = new FolderWatcher({
      redis,
      queue,
      lock,
      keys,
      options,
      folders,
      toolkit,
      format: p.mapping.format,
      log,
      jobOptions: FILE_JOB_OPTIONS,
    });
    const watching = holdWhilePossible(
      lock,
      this.#stop.signal,
      async (_token, lost) => {
        this.#role = 'watcher';
        try {
          await watcher.run(lost);
        } finally {
          if (this.#role === 'watcher') this.#role = 'member';
        }
      },
      {
        onLost: (why) => log.warn({ why }, 'watcher lock lost'),
        onError: (err) => log.error({ err: err.message }, 'folder watcher failed; retrying'),
      },
    );

    let stopping: Promise<RunSummary> | undefined;
    const shutdown = (): Promise<RunSummary> => {
      stopping ??= (async () => {
        this.#role = 'stopping';
        this.#stop.abort();
        await bull.pause(true).catch(() => undefined); // no new jobs
        engine.stop();
        const summary = await engineRun; // in-flight batches drained and committed
        source.requeueUnfinished(summary.status === 'failed' ? `pipeline failed: ${summary.error}` : 'worker stopping');
        await bull.close().catch((err: Error) => log.warn({ err: err.message }, 'closing the job worker'));
        await bullRun;
        await watching;
        await queue.close().catch(() => undefined);
        await p.close();
        return summary;
      })();
      return stopping;
    };
    // Run until asked to stop, or until the engine ends by itself (a sink failed for good).
    await Promise.race([engineRun, new Promise<void>((r) => (this.#stop.signal.aborted ? r() : this.#stop.signal.addEventListener('abort', () => r(), { once: true })))]);
    const summary = await shutdown();
    log.info({ filesDone: this.#filesDone, filesFailed: this.#filesFailed, ...engine.counts() }, 'worker stopped');
    return { exitCode: summary.status === 'failed' ? 1 : 0, summary };
  }
}

/** ioredis options from a redis:// URL (BullMQ wants options, not a shared instance, for its blocking worker). */
export function connectionOptions(url: string): Record<string, unknown> {
  const u = new URL(url);
  const o: Record<string, unknown> = { host: u.hostname, port: Number(u.port || 6379) };
  if (u.username) o.username = decodeURIComponent(u.username);
  if (u.password) o.password = decodeURIComponent(u.password);
  const db = u.pathname.replace('/', '');
  if (db) o.db = Number(db);
  if (u.protocol === 'rediss:') o.tls = {};
  return o;
}

// KEYS: lock, fence, cp hash, cp index. ARGV: lock value, token, key, value ('' = delete).
const FENCED_CHECKPOINT = `${FENCE_CHECK}
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[3], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[3])
else
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
  redis.call('ZADD', KEYS[4], 0, ARGV[3])
end
return 1`;

/**
 * The store as seen by a singleton source: checkpoint writes go through one Lua script that first checks the lock
 * token, so a member that lost the lock (paused past its expiry) cannot move the checkpoint of the new holder.
 */
export function fenceCheckpoints(store: RedisStateStore, redis: Redis, lock: FencedLock): StateStore {
  const r = redis as Redis & { sbFencedCheckpoint?: (...a: string[]) => Promise<number>; __sbFencedCp?: boolean };
  if (!r.__sbFencedCp) {
    redis.defineCommand('sbFencedCheckpoint', { numberOfKeys: 4, lua: FENCED_CHECKPOINT });
    r.__sbFencedCp = true;
  }
  const write = async (key: string, value: string) => {
    const f = lock.fenceArgs();
    await r.sbFencedCheckpoint!(...f.keys, `${store.keyPrefix}cp`, `${store.keyPrefix}cp:idx`, ...f.argv, key, value);
  };
  return new Proxy(store, {
    get(target, key) {
      if (key === 'putCheckpoint') return (k: string, v: unknown) => write(k, JSON.stringify(v));
      if (key === 'deleteCheckpoint') return (k: string) => write(k, '');
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as StateStore;
}
