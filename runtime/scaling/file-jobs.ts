/**
 * The source of a pool worker's engine for file-drop pipelines: BullMQ hands this worker file jobs (up to
 * `concurrency` at a time); each job's file is streamed through the pipeline's format by the file-drop reader, from
 * the byte-offset checkpoint kept in the shared state store, so one engine — one set of open sinks — serves every job
 * of the worker. A job's BullMQ processor promise settles when its file is done:
 *
 *   done      last batch committed (every sink acknowledged), file archived, checkpoint and registration removed
 *   rejected  the file broke mid-way: what came before is committed, the file is in the error folder (job fails,
 *             no retry: status shows the reason)
 *   requeue   the worker is stopping or its pipeline failed: the job goes back to the queue; whoever takes it next
 *             resumes after the last committed record
 *
 * A worker that dies (SIGKILL, power) settles nothing: its jobs' BullMQ locks expire, the stalled-job check of another
 * worker moves them back to wait, and they resume from the checkpoint. Records between the last commit and the crash
 * are read again and carry the same refs (`<name>@<sha256 12>:<line>`), hence the same event ids.
 *
 * Checkpoint key per job: `queued:<queued name>` → DropCheckpoint (offset, line, decoder resume state, state).
 */
import { unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BoundFormat, Logger, Source, SourceBatch, SourceContext, StateStore } from '../contracts/spi.ts';
import type { DropOptions, DropPositionLike, DropReadState, DropToolkit, FileJobData } from './drop-toolkit.ts';
import { QUEUED_DIR } from './drop-toolkit.ts';
import type { poolKeys } from './keys.ts';

export type JobOutcome =
  | { kind: 'done'; archived: string }
  | { kind: 'rejected'; reason: string }
  | { kind: 'requeue'; why: string };

interface Checkpoint extends DropReadState {
  state: 'reading' | 'done';
  job: string;
  updatedAt: string;
}

interface Active {
  job: Job<FileJobData>;
  data: FileJobData;
  unit: string;
  path: string;
  folder: string;
  settle: (o: JobOutcome) => void;
  settled: boolean;
}

export interface FileJobSourceParts {
  ctx: SourceContext;
  state: StateStore;
  redis: Redis;
  keys: ReturnType<typeof poolKeys>;
  options: DropOptions;
  folders: string[];
  toolkit: DropToolkit;
  log: Logger;
}

export class FileJobSource implements Source<DropPositionLike> {
  readonly #p: FileJobSourceParts;
  readonly #format: BoundFormat;
  readonly #queuedDir: string;
  readonly #fifo: Active[] = [];
  /** queued name → job in this worker (reading, or waiting for its commits) */
  readonly #active = new Map<string, Active>();
  readonly #unitsUsed = new Map<string, number>();
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(p: FileJobSourceParts) {
    this.#p = p;
    this.#format = p.ctx.format;
    this.#queuedDir = join(p.folders[0], QUEUED_DIR);
  }

  /** Jobs of this worker not settled yet (for status). */
  currentJobs(): string[] {
    return [...this.#active.values()].map((a) => `${a.data.name} (${String(a.job.id).slice(0, 12)})`);
  }

  /** Called by the BullMQ processor: resolves when the job's file is done, rejected or to be requeued. */
  submit(job: Job<FileJobData>): Promise<JobOutcome> {
    return new Promise((resolve) => {
      const data = job.data;
      if (this.#closed) return resolve({ kind: 'requeue', why: 'worker stopping' });
      const n = (this.#unitsUsed.get(data.name) ?? 0) + 1;
      this.#unitsUsed.set(data.name, n);
      const a: Active = {
        job,
        data,
        unit: n === 1 ? data.name : `${data.name}#${n}`,
        path: join(this.#queuedDir, data.queued),
        folder: this.#p.folders[data.folderIndex] ?? this.#p.folders[0],
        settled: false,
        settle: (o) => {
          if (a.settled) return;
          a.settled = true;
          this.#active.delete(data.queued);
          resolve(o);
        },
      };
      this.#active.set(data.queued, a);
      this.#fifo.push(a);
      this.#wake?.();
    });
  }

  /** After the engine stopped: every job not done goes back to the queue. */
  requeueUnfinished(why: string): void {
    this.#closed = true;
    for (const a of [...this.#active.values()]) a.settle({ kind: 'requeue', why });
    this.#fifo.length = 0;
  }

  #cpKey(a: Active): string {
    return `queued:${a.data.queued}`;
  }

  async *batches(): AsyncGenerator<SourceBatch<DropPositionLike>> {
    const { signal } = this.#p.ctx;
    while (!signal.aborted) {
      const a = this.#fifo.shift();
      if (!a) {
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener('abort', done);
            this.#wake = undefined;
            resolve();
          };
          this.#wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      if (a.settled) continue;
      try {
        yield* this.#read(a);
      } catch (err) {
        // Redis or file system trouble before the first batch: let another attempt (here or elsewhere) retry it.
        this.#p.log.error({ file: a.data.name, err: (err as Error).message }, 'cannot start the file job; it goes back to the queue');
        a.settle({ kind: 'requeue', why: (err as Error).message });
      }
    }
  }

  async *#read(a: Active): AsyncGenerator<SourceBatch<DropPositionLike>> {
    const { state, toolkit: t, log, ctx } = this.#p;
    let cp = await state.getCheckpoint<Checkpoint>(this.#cpKey(a));
    if (!(await t.exists(a.path))) {
      // A previous attempt archived it and died before the job was marked completed.
      if (!cp || cp.state === 'done') {
        if (!cp) log.warn({ file: a.data.name, job: a.job.id }, 'queued file not found: taken as archived by an earlier attempt of this job');
        await this.#cleanup(a);
        a.settle({ kind: 'done', archived: '(by an earlier attempt)' });
        return;
      }
      log.error({ file: a.data.name, offset: cp.offset }, 'a queued file vanished mid-way; records after the checkpoint are lost');
      await this.#cleanup(a);
      a.settle({ kind: 'rejected', reason: `queued file vanished at byte ${cp.offset}` });
      return;
    }
    if (cp?.state === 'done') {
      await this.#finish(a, cp);
      return;
    }
    cp ??= {
      name: a.data.name,
      folder: a.folder,
      state: 'reading',
      offset: 0,
      line: 1,
      sha256: a.data.sha256,
      size: a.data.size,
      job: String(a.job.id),
      updatedAt: new Date().toISOString(),
    };
    cp.folder = a.folder;
    log.info({ file: a.data.name, bytes: a.data.size, offset: cp.offset, attempt: a.job.attemptsStarted }, cp.offset ? 'resuming file' : 'processing file');
    const reader = t.readDropFile(a.path, cp, {
      format: this.#format,
      batchSize: ctx.batchSize,
      chunkSize: this.#p.options.chunkSize,
      signal: ctx.signal,
      log,
      unit: a.unit,
      claimed: a.data.queued,
    });
    for await (const b of reader) {
      // Nothing else to read after this file: have buffering sinks flush now rather than after flushIdleMs.
      if (b.position.last && this.#fifo.length === 0) b.commitBarrier = true;
      yield b;
    }
  }

  async commit(positions: DropPositionLike[]): Promise<void> {
    const latest = new Map<string, DropPositionLike>();
    for (const p of positions) latest.set(p.claimed, { ...latest.get(p.claimed), ...p });
    for (const [queued, p] of latest) {
      const a = this.#active.get(queued);
      if (!a) continue; // settled already (requeued at shutdown): the next attempt resumes from the last checkpoint
      const cp: Checkpoint = {
        name: a.data.name,
        folder: a.folder,
        state: p.last ? 'done' : 'reading',
        offset: p.offset,
        line: p.line,
        resume: p.resume,
        sha256: a.data.sha256,
        size: a.data.size,
        job: String(a.job.id),
        updatedAt: new Date().toISOString(),
      };
      if (p.failed) {
        await this.#reject(a, p.failed, { offset: p.offset, sha256: a.data.sha256, counts: this.#p.ctx.unitCounts(p.unit) });
        continue;
      }
      await this.#p.state.putCheckpoint(this.#cpKey(a), cp);
      if (p.last) await this.#finish(a, cp);
    }
  }

  /** Archive (or delete) a fully committed file, then drop its checkpoint and registration. */
  async #finish(a: Active, cp: Checkpoint): Promise<void> {
    const { toolkit: t, options: o, log } = this.#p;
    let where = 'deleted';
    try {
      if (o.afterSuccess === 'delete') await unlink(a.path);
      else where = await t.moveInto(a.path, t.archiveDirOf(a.folder, o), basename(a.data.name), { gzip: o.archive.gzip, suffix: Date.now().toString(36) });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        // Kept in .queued/ marked done: the job is retried by BullMQ and only the archiving is repeated.
        log.error({ file: a.data.name, err: (err as Error).message }, 'file fully committed but could not be archived; the job will retry the archiving (the file is not read again)');
        a.settle({ kind: 'requeue', why: `archive failed: ${(err as Error).message}` });
        return;
      }
      where = '(archived by another attempt)';
    }
    await this.#cleanup(a);
    const counts = this.#p.ctx.unitCounts(a.unit);
    log.info({ file: a.data.name, archived: where, linesRead: cp.line - 1, job: a.job.id, ...(counts ?? {}) }, 'file done');
    a.settle({ kind: 'done', archived: where });
  }

  async #cleanup(a: Active): Promise<void> {
    await this.#p.state.deleteCheckpoint(this.#cpKey(a));
    await this.#p.redis.hdel(this.#p.keys.queued, a.data.queued);
  }

  async #reject(a: Active, reason: string, details: Record<string, unknown>): Promise<void> {
    const { toolkit: t, options: o, log, redis, keys } = this.#p;
    try {
      const target = await t.moveToErrorFolder(a.path, t.errorDirOf(a.folder, o), a.data.name, reason, details);
      log.error({ file: a.data.name, movedTo: target, reason }, 'file moved to the error folder');
    } catch (err) {
      log.error({ file: a.data.name, reason, err: (err as Error).message }, 'file cannot be processed and cannot be moved to the error folder; it stays where it is');
    }
    await this.#cleanup(a);
    // the same content may be dropped again once fixed upstream
    await redis.del(keys.dedup(a.data.sha256));
    a.settle({ kind: 'rejected', reason });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
  }
}
