/**
 * The folder watcher of a file-drop pool: the one worker holding the watcher lock scans the drop folders, claims
 * every complete file into the shared queued area (`<first folder>/.queued/`, an atomic rename: nobody else can
 * enqueue it afterwards) and adds one BullMQ job per file, with the content's SHA-256 as job id.
 *
 * Per file:  fenced check → rename into .queued/ → inspect (size, SHA-256, NUL) → fenced register → queue.add
 *
 * "Fenced register" is one Lua script that first checks the lock is still ours with the current token, then records
 * the content (duplicate window) and the queued file. A watcher that lost the lock — paused past its expiry, cut off
 * from Redis — is refused there, and the new watcher finds whatever it had half done in `.queued/` when it
 * reconciles: files without a registration are inspected and registered again, registrations without a job get
 * their job, files whose job failed for good go to the error folder. A job is only added after a successful fenced
 * register, and adding the same job id twice is a no-op in BullMQ, so a stale watcher can at worst repeat an add.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BoundFormat, Logger } from '../contracts/spi.ts';
import { type DropCandidate, type DropOptions, type DropToolkit, type FileJobData, QUEUED_DIR, selectionOf } from './drop-toolkit.ts';
import { FENCE_CHECK, type FencedLock, isFenced, sleep } from './lock.ts';
import type { poolKeys } from './keys.ts';

// KEYS: lock, fence, dedup, queued-hash. ARGV: lock value, token, queued name, sha256, window ms.
// Returns {1} when registered, {0, <queued name of the earlier copy>} for a duplicate.
const REGISTER = `${FENCE_CHECK}
local cur = redis.call('GET', KEYS[3])
if cur and cur ~= ARGV[3] then return {0, cur} end
if tonumber(ARGV[5]) > 0 then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[5]) end
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
return {1}`;

/**
 * The job id of a queued file: its SHA-256 (BullMQ then refuses a second job for the same content), or — with the
 * duplicate window off — SHA-256 plus the claim stamp, so identical files dropped twice are both processed.
 */
export function fileJobId(sha256: string, queuedName: string, windowMs: number): string {
  return windowMs > 0 ? sha256 : `${sha256}.${queuedName.split('-').slice(0, 2).join('-')}`;
}

/** Files claimed, inspected, registered and enqueued together (one fence check before each batch of claims). */
const BATCH = 64;

type WatcherRedis = Redis & { sbRegisterFile(...args: Array<string | number>): Promise<[number, string?]> };

export interface WatcherParts {
  redis: Redis;
  queue: Queue;
  lock: FencedLock;
  keys: ReturnType<typeof poolKeys>;
  options: DropOptions;
  folders: string[];
  toolkit: DropToolkit;
  format: BoundFormat;
  log: Logger;
  /** Job options for every added job (attempts, retention). */
  jobOptions: Record<string, unknown>;
  /** How often the queued area is reconciled against registrations and jobs. */
  reconcileEveryMs?: number;
  /** Counts for status and tests. */
  onEnqueued?: (data: FileJobData) => void;
}

export class FolderWatcher {
  readonly #p: WatcherParts;
  readonly #r: WatcherRedis;
  readonly #queuedDir: string;
  readonly #completeness;
  #seq = 0;
  #wake: (() => void) | undefined;
  enqueued = 0;

  constructor(p: WatcherParts) {
    this.#p = p;
    const r = p.redis as WatcherRedis & { __sbRegister?: boolean };
    if (!r.__sbRegister) {
      r.defineCommand('sbRegisterFile', { numberOfKeys: 4, lua: REGISTER });
      r.__sbRegister = true;
    }
    this.#r = r;
    this.#queuedDir = join(p.folders[0], QUEUED_DIR);
    this.#completeness = p.toolkit.newCompleteness(p.options.minAgeMs, p.options.stableMs);
  }

  get queuedDir(): string {
    return this.#queuedDir;
  }

  /** Runs while the lock is held; returns when `lost` aborts. */
  async run(lost: AbortSignal): Promise<void> {
    const { options: o, log } = this.#p;
    const watchers: FSWatcher[] = [];
    if (o.mode === 'watch') {
      for (const f of this.#p.folders) {
        try {
          const w = watch(f, { persistent: false, recursive: o.recursive }, () => this.#wake?.());
          w.on('error', () => undefined);
          watchers.push(w);
        } catch {
          // polling only
        }
      }
    }
    log.info({ token: this.#p.lock.token, folders: this.#p.folders }, 'this worker is the folder watcher');
    try {
      await this.reconcile(lost);
      let lastReconcile = performance.now();
      const every = this.#p.reconcileEveryMs ?? 30_000;
      while (!lost.aborted) {
        const claimed = await this.#round(lost);
        if (lost.aborted) break;
        if (performance.now() - lastReconcile > every) {
          await this.reconcile(lost);
          lastReconcile = performance.now();
        }
        if (claimed === 0) await this.#sleep(o.pollIntervalMs, lost);
      }
    } catch (err) {
      if (!isFenced(err)) throw err;
      log.warn({ err: (err as Error).message }, 'watcher lock lost: stopped claiming files');
    } finally {
      for (const w of watchers) w.close();
      this.#completeness.clear();
    }
  }

  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      void sleep(ms, signal).then(done);
    });
  }

  /** One scan: claims and enqueues every complete file, in batches; returns how many. */
  async #round(lost: AbortSignal): Promise<number> {
    const { toolkit: t, options: o, log } = this.#p;
    const sel = selectionOf(o);
    const now = Date.now();
    let n = 0;
    for (const [folderIndex, folder] of this.#p.folders.entries()) {
      const ready: DropCandidate[] = [];
      for (const c of await t.scan(folder, sel)) {
        if (!this.#completeness.complete(c, now)) continue;
        if (o.doneMarker && !(await t.exists(c.path + o.doneMarker))) continue;
        if (c.symlink) {
          const inside = o.followSymlinks ? await t.symlinkInside(c.path, c.folder) : undefined;
          if (!inside) {
            await this.#toErrorFolder(c.path, c, o.followSymlinks ? 'symlink points outside the drop folder' : 'symlinks are not followed (set followSymlinks: true to read links inside the folder)', {});
            continue;
          }
        }
        ready.push(c);
      }
      for (let i = 0; i < ready.length; i += BATCH) {
        if (lost.aborted) return n;
        const batch = ready.slice(i, i + BATCH);
        // Fencing: no claim unless the lock is still ours with the current token.
        await this.#p.lock.assertHeld();
        const claimed = await Promise.all(
          batch.map(async (c) => {
            const claimName = `${Date.now().toString(36)}-${(this.#seq++).toString(36)}${randomBytes(2).toString('hex')}-${c.name.replaceAll('/', '__')}`;
            try {
              const got = await t.claim(c.path, this.#queuedDir, claimName);
              this.#completeness.forget(c.path);
              if (!got) return undefined; // someone else took it
              if (o.doneMarker) await unlink(c.path + o.doneMarker).catch(() => undefined);
              return { queuedName: claimName, name: c.name, folderIndex };
            } catch (err) {
              log.warn({ file: c.name, err: (err as Error).message }, 'cannot claim file (retried on the next scan)');
              return undefined;
            }
          }),
        );
        n += await this.#enqueueMany(claimed.filter((x) => x !== undefined));
      }
    }
    return n;
  }

  /**
   * Inspects claimed files, registers them (fenced) and adds their jobs, 8 at a time so the first jobs are available
   * to the other workers after a few hashes, not after the whole batch; returns how many were enqueued.
   */
  async #enqueueMany(items: Array<{ queuedName: string; name: string; folderIndex: number }>): Promise<number> {
    let n = 0;
    for (let i = 0; i < items.length; i += 8) n += await this.#enqueueChunk(items.slice(i, i + 8));
    return n;
  }

  async #enqueueChunk(items: Array<{ queuedName: string; name: string; folderIndex: number }>): Promise<number> {
    if (items.length === 0) return 0;
    const { toolkit: t, options: o, lock, keys, queue, log } = this.#p;
    const windowMs = Math.round(o.duplicateWindowHours * 3_600_000);
    const folderOf = (i: number) => this.#p.folders[i] ?? this.#p.folders[0];
    const pathOf = (q: string) => join(this.#queuedDir, q);
    // inspect (size, SHA-256, NUL bytes) in parallel
    const part = await Promise.all(
      items.map(async (it) => {
        let problem: string | undefined;
        let info = { size: 0, sha256: '', nul: 0 };
        try {
          info = await t.inspectFile(pathOf(it.queuedName));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // gone meanwhile
          problem = `cannot read file: ${(err as Error).message}`;
        }
        try {
          if (!problem) t.checkContent(info, this.#p.format);
        } catch (err) {
          problem = (err as Error).message;
        }
        if (problem) {
          await this.#toErrorFolder(pathOf(it.queuedName), { name: it.name, folder: folderOf(it.folderIndex) }, problem, {});
          await this.#r.hdel(keys.queued, it.queuedName);
          return undefined;
        }
        return { ...it, info };
      }),
    );
    const inspected = part.filter((x) => x !== undefined);
    // register, each atomically with the fence check (sent together: one round trip)
    const f = lock.fenceArgs();
    const regs = await Promise.all(
      inspected.map((it) => this.#r.sbRegisterFile(...f.keys, keys.dedup(it.info.sha256), keys.queued, ...f.argv, it.queuedName, it.info.sha256, windowMs)),
    );
    const toAdd: Array<{ data: FileJobData; jobId: string }> = [];
    for (const [i, it] of inspected.entries()) {
      const [ok, earlier] = regs[i];
      if (ok !== 1) {
        log.warn({ file: it.name, sha256: it.info.sha256, earlier }, 'duplicate drop: the same content was already queued within the duplicate window; skipped');
        await this.#toErrorFolder(pathOf(it.queuedName), { name: it.name, folder: folderOf(it.folderIndex) }, `duplicate: the same content (sha256 ${it.info.sha256}) was already processed within the duplicate window`, { sha256: it.info.sha256 }, true);
        continue;
      }
      toAdd.push({
        jobId: fileJobId(it.info.sha256, it.queuedName, windowMs),
        data: {
          v: 1,
          name: it.name,
          folderIndex: Math.max(0, it.folderIndex),
          queued: it.queuedName,
          sha256: it.info.sha256,
          size: it.info.size,
          enqueuedAt: new Date().toISOString(),
          fence: lock.token ?? 0,
        },
      });
    }
    // a job id already in the queue: the same file (enqueued before a handover), or an old run of the same content
    const existing = await Promise.all(toAdd.map((a) => queue.getJob(a.jobId)));
    const fresh: typeof toAdd = [];
    for (const [i, a] of toAdd.entries()) {
      const e = existing[i];
      if (!e) {
        fresh.push(a);
        continue;
      }
      if ((e.data as FileJobData).queued === a.data.queued) continue;
      const state = await e.getState();
      if (state === 'completed' || state === 'failed' || state === 'unknown') {
        await e.remove().catch(() => undefined);
        fresh.push(a);
      } else {
        const folder = folderOf(a.data.folderIndex);
        await this.#toErrorFolder(pathOf(a.data.queued), { name: a.data.name, folder }, `duplicate: the same content (sha256 ${a.data.sha256}) is being processed right now (job ${a.jobId})`, { sha256: a.data.sha256 }, true);
        await this.#r.hdel(keys.queued, a.data.queued);
      }
    }
    if (fresh.length) await queue.addBulk(fresh.map((a) => ({ name: 'file', data: a.data, opts: { ...this.#p.jobOptions, jobId: a.jobId } })));
    for (const a of fresh) this.#p.onEnqueued?.(a.data);
    this.enqueued += fresh.length;
    if (fresh.length) log.debug({ files: fresh.length }, 'files queued');
    return fresh.length;
  }

  #enqueue(queuedName: string, name: string, folderIndex: number): Promise<number> {
    return this.#enqueueMany([{ queuedName, name, folderIndex }]);
  }

  async #toErrorFolder(path: string, c: Pick<DropCandidate, 'name' | 'folder'>, reason: string, details: Record<string, unknown>, duplicate = false): Promise<void> {
    const { toolkit: t, options: o, log } = this.#p;
    try {
      const target = await t.moveToErrorFolder(path, t.errorDirOf(c.folder, o), c.name, reason, details);
      if (!duplicate) log.error({ file: c.name, movedTo: target, reason }, 'file moved to the error folder');
      // for `stockbridge status`: files that never became jobs
      const entry = JSON.stringify({ file: c.name, reason, movedTo: target, at: new Date().toISOString() });
      await this.#r.multi().lpush(this.#p.keys.rejected, entry).ltrim(this.#p.keys.rejected, 0, 99).exec().catch(() => undefined);
    } catch (err) {
      log.error({ file: c.name, reason, err: (err as Error).message }, 'file cannot be processed and cannot be moved to the error folder; it stays where it is');
    }
  }

  /**
   * Brings the queued area in line with Redis after a handover (and every reconcileEveryMs): files claimed but not
   * registered are registered and enqueued, registered files without a job get one, files whose job failed for good
   * go to the error folder, registrations of files no longer there are dropped.
   */
  async reconcile(lost: AbortSignal): Promise<void> {
    const { keys, queue, log, lock } = this.#p;
    let names: string[] = [];
    try {
      names = (await readdir(this.#queuedDir)).filter((n) => !n.startsWith('.')).sort();
    } catch {
      // nothing queued yet
    }
    const registered = await this.#r.hgetall(keys.queued);
    const present = new Set(names);
    let fixed = 0;
    for (const queuedName of names) {
      if (lost.aborted) return;
      await lock.assertHeld();
      const sha = registered[queuedName];
      const name = queuedName.replace(/^[0-9a-z]+-[0-9a-z]+-/, '').replaceAll('__', '/');
      if (!sha) {
        // claimed by a watcher that stopped before registering it
        fixed += await this.#enqueue(queuedName, name, 0);
        continue;
      }
      const jobId = fileJobId(sha, queuedName, Math.round(this.#p.options.duplicateWindowHours * 3_600_000));
      const job = await queue.getJob(jobId);
      if (job && (job.data as FileJobData).queued === queuedName) {
        const state = await job.getState();
        if (state === 'failed') {
          await this.#toErrorFolder(join(this.#queuedDir, queuedName), { name, folder: this.#p.folders[0] }, `processing failed for good: ${job.failedReason}`, {
            sha256: sha,
            job: job.id,
            attempts: job.attemptsMade,
          });
          await this.#r.multi().hdel(keys.queued, queuedName).del(keys.dedup(sha)).exec();
        }
        continue;
      }
      if (!job) {
        fixed += await this.#enqueue(queuedName, name, 0);
      }
    }
    // registrations whose file is gone (archived by a worker that died before cleaning up)
    const gone = Object.keys(registered).filter((n) => !present.has(n));
    if (gone.length) await this.#r.hdel(keys.queued, ...gone);
    if (fixed) log.info({ files: fixed }, 'reconciled the queued area: enqueued files a previous watcher had claimed');
  }
}
