/**
 * The file-drop source: watch folders, claim complete files atomically, stream them through the mapping's input
 * format with a byte-offset checkpoint, archive (or delete) a file once all of it is committed, move files that
 * cannot be processed to the error folder with a `.error.json` report.
 *
 * Per claimed file the state store keeps `drop:<claimed path>` → DropCheckpoint. The processing folder is per
 * instance (`.processing/<instance id>/`, the id lives in the state store), so several processes sharing a folder
 * each recover only their own claims after a crash.
 */
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Logger, Source, SourceBatch, SourceContext } from '../../runtime/contracts/spi.ts';
import { claim, exists, moveInto, scan, symlinkInside, type Candidate, type Selection } from './folder.ts';
import {
  archiveDirOf,
  checkContent,
  Completeness,
  type DropCheckpoint,
  type DropPosition,
  errorDirOf,
  FileProblem,
  inspectFile,
  moveToErrorFolder,
  readDropFile,
} from './read.ts';

export type { DropCheckpoint, DropPosition };

export interface FileDropOptions {
  path: string | string[];
  include: string[];
  exclude: string[];
  recursive: boolean;
  minAgeMs: number;
  stableMs: number;
  doneMarker?: string;
  tempPatterns: string[];
  mode: 'watch' | 'poll';
  pollIntervalMs: number;
  afterSuccess: 'archive' | 'delete';
  archive: { dir?: string; dated: boolean; gzip: boolean };
  errorDir?: string;
  duplicateWindowHours: number;
  followSymlinks: boolean;
  chunkSize: number;
  onceWaitMs: number;
}

const CONTENT_SCOPE = 'file-drop:content';
const INSTANCE_KEY = 'file-drop:instance';

interface Claimed {
  path: string;
  cp: DropCheckpoint;
}

export class FileDropSource implements Source<DropPosition> {
  readonly #o: FileDropOptions;
  readonly #ctx: SourceContext;
  readonly #log: Logger;
  readonly #folders: string[];
  readonly #sel: Selection;
  #processing = '';
  /** stability check of files not yet old enough */
  readonly #seen: Completeness;
  /** files we could not claim (permissions): warn once per size+mtime */
  readonly #warned = new Map<string, number>();
  readonly #pendingArchive = new Set<string>();
  readonly #unitsUsed = new Map<string, number>();
  #queue: Candidate[] = [];
  #watchers: FSWatcher[] = [];
  #wake: (() => void) | undefined;
  #seq = 0;

  constructor(o: FileDropOptions, baseDir: string, ctx: SourceContext) {
    this.#o = o;
    this.#ctx = ctx;
    this.#log = ctx.log;
    const paths = Array.isArray(o.path) ? o.path : [o.path];
    this.#folders = paths.map((p) => resolve(baseDir, p));
    this.#sel = { include: o.include, exclude: o.exclude, tempPatterns: o.tempPatterns, doneMarker: o.doneMarker, recursive: o.recursive };
    this.#seen = new Completeness(o.minAgeMs, o.stableMs);
  }

  #archiveDir(folder: string): string {
    return archiveDirOf(folder, this.#o);
  }

  #errorDir(folder: string): string {
    return errorDirOf(folder, this.#o);
  }

  async #init(): Promise<void> {
    const { state } = this.#ctx;
    for (const f of this.#folders) {
      if (!(await exists(f))) throw new Error(`drop folder ${f} does not exist`);
    }
    let id = await state.getCheckpoint<string>(INSTANCE_KEY);
    if (!id) {
      id = `${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}-${randomBytes(3).toString('hex')}`;
      await state.putCheckpoint(INSTANCE_KEY, id);
    }
    this.#processing = join(this.#folders[0], '.processing', id);
    if (this.#o.mode === 'watch' && !this.#ctx.once) {
      for (const f of this.#folders) {
        try {
          const w = watch(f, { persistent: false, recursive: this.#o.recursive }, () => this.#wake?.());
          w.on('error', (err) => this.#log.warn({ folder: f, err: err.message }, 'file watcher failed; polling only'));
          this.#watchers.push(w);
        } catch (err) {
          this.#log.warn({ folder: f, err: (err as Error).message }, 'cannot watch folder; polling only');
        }
      }
    }
  }

  async *batches(): AsyncGenerator<SourceBatch<DropPosition>> {
    await this.#init();
    for (const c of await this.#recover()) yield* this.#read(c);
    const onceDeadline = Date.now() + this.#o.onceWaitMs;
    while (!this.#ctx.signal.aborted) {
      await this.#retryArchives();
      const next = await this.#claimNext();
      if (next === 'none' || next === 'waiting') {
        if (this.#ctx.once && (next === 'none' || Date.now() > onceDeadline)) {
          if (next === 'waiting')
            this.#log.warn({ files: this.#seen.pending() }, 'leaving files that are still being written (not stable yet)');
          return;
        }
        await this.#sleep(next === 'waiting' ? Math.min(this.#o.pollIntervalMs, 250) : this.#o.pollIntervalMs);
        continue;
      }
      yield* this.#read(next);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(done, ms);
      const onAbort = () => done();
      this.#ctx.signal.addEventListener('abort', onAbort, { once: true });
      function done() {
        clearTimeout(t);
        res();
      }
      this.#wake = () => done();
    });
  }

  /** Files claimed by this instance before a crash: resume, or finish archiving. */
  async #recover(): Promise<Claimed[]> {
    const out: Claimed[] = [];
    const cps = await this.#ctx.state.listCheckpoints('drop:');
    const known = new Set<string>();
    for (const { key, value } of cps) {
      const path = key.slice('drop:'.length);
      known.add(path);
      const cp = value as DropCheckpoint;
      if (!(await exists(path))) {
        this.#log.error({ file: cp.name, offset: cp.offset }, 'a claimed file vanished from the processing folder; records after the checkpoint are lost');
        await this.#ctx.state.deleteCheckpoint(key);
        continue;
      }
      if (cp.state === 'done') this.#pendingArchive.add(path);
      else {
        this.#log.info({ file: cp.name, offset: cp.offset, line: cp.line }, 'resuming a file claimed before a restart');
        out.push({ path, cp });
      }
    }
    // Claimed but crashed before the first checkpoint: start from the beginning.
    let names: string[] = [];
    try {
      names = await readdir(this.#processing);
    } catch {
      // no processing folder yet
    }
    for (const n of names.sort()) {
      const path = join(this.#processing, n);
      if (known.has(path) || n.startsWith('.')) continue;
      const name = n.replace(/^[0-9a-z]+-[0-9a-z]+-/, '').replaceAll('__', '/');
      const cp: DropCheckpoint = { name, folder: this.#folders[0], state: 'claimed', offset: 0, line: 1, claimedAt: new Date().toISOString() };
      out.push({ path, cp });
    }
    return out;
  }

  async #retryArchives(): Promise<void> {
    for (const path of [...this.#pendingArchive]) {
      const cp = await this.#ctx.state.getCheckpoint<DropCheckpoint>(`drop:${path}`);
      if (cp) await this.#finish(path, cp, undefined);
      else this.#pendingArchive.delete(path);
    }
  }

  /** Claims the next complete file: a Claimed, 'waiting' (some files are not stable yet) or 'none'. */
  async #claimNext(): Promise<Claimed | 'waiting' | 'none'> {
    if (this.#queue.length === 0) {
      for (const f of this.#folders) this.#queue.push(...(await scan(f, this.#sel)));
      if (this.#queue.length === 0) {
        this.#seen.clear();
        return 'none';
      }
    }
    const now = Date.now();
    let waiting = false;
    while (this.#queue.length) {
      const c = this.#queue.shift()!;
      const key = c.path;
      if (!this.#seen.complete(c, now)) {
        waiting = true;
        continue;
      }
      if (this.#o.doneMarker && !(await exists(c.path + this.#o.doneMarker))) {
        waiting = true;
        continue;
      }
      let src = c.path;
      if (c.symlink) {
        const inside = this.#o.followSymlinks ? await symlinkInside(c.path, c.folder) : undefined;
        if (!inside) {
          await this.#reject(c.path, c.folder, c.name, this.#o.followSymlinks ? 'symlink points outside the drop folder' : 'symlinks are not followed (set followSymlinks: true to read links inside the folder)', {});
          continue;
        }
        src = c.path; // the link is claimed; reads follow it
      }
      const claimName = `${Date.now().toString(36)}-${(this.#seq++).toString(36)}-${c.name.replaceAll('/', '__')}`;
      let claimed: string | undefined;
      try {
        claimed = await claim(src, this.#processing, claimName);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (this.#warned.get(key) !== c.mtimeMs) {
          this.#warned.set(key, c.mtimeMs);
          this.#log.warn({ file: c.name, folder: c.folder, code, err: (err as Error).message }, 'cannot claim file (will retry when it changes or on the next scan)');
        }
        continue;
      }
      this.#seen.forget(key);
      if (!claimed) continue; // another process took it
      if (this.#o.doneMarker) await unlink(c.path + this.#o.doneMarker).catch(() => undefined);
      const cp: DropCheckpoint = { name: c.name, folder: c.folder, state: 'claimed', offset: 0, line: 1, claimedAt: new Date().toISOString() };
      await this.#ctx.state.putCheckpoint(`drop:${claimed}`, cp);
      return { path: claimed, cp };
    }
    return waiting ? 'waiting' : 'none';
  }

  #unitFor(name: string): string {
    const n = (this.#unitsUsed.get(name) ?? 0) + 1;
    this.#unitsUsed.set(name, n);
    return n === 1 ? name : `${name}#${n}`;
  }

  /** Checks, hashes and streams one claimed file. */
  async *#read(c: Claimed): AsyncGenerator<SourceBatch<DropPosition>> {
    const { format, batchSize, state, signal } = this.#ctx;
    const { cp } = c;
    const unit = this.#unitFor(cp.name);
    try {
      if (cp.sha256 === undefined) {
        const info = await inspectFile(c.path);
        checkContent(info, format);
        const { size, sha256 } = info;
        if (this.#o.duplicateWindowHours > 0) {
          // Owned by this claim: a crash right after this call must not make the file its own duplicate.
          const dup = await state.claimKeys(CONTENT_SCOPE, [sha256], this.#o.duplicateWindowHours * 3_600_000, c.path);
          if (dup.size) {
            this.#log.warn({ file: cp.name, sha256 }, 'duplicate drop: the same content was already processed within the duplicate window; skipped');
            await this.#reject(c.path, cp.folder, cp.name, `duplicate: the same content (sha256 ${sha256}) was already processed within the duplicate window`, { sha256 }, true);
            return;
          }
        }
        cp.sha256 = sha256;
        cp.size = size;
        cp.state = 'reading';
        await state.putCheckpoint(`drop:${c.path}`, cp);
      }
    } catch (err) {
      const reason = err instanceof FileProblem ? err.message : `cannot read file: ${(err as Error).message}`;
      await this.#reject(c.path, cp.folder, cp.name, reason, {});
      return;
    }

    this.#log.info({ file: cp.name, bytes: cp.size, offset: cp.offset }, cp.offset ? 'resuming file' : 'processing file');
    yield* readDropFile(c.path, cp, { format, batchSize, chunkSize: this.#o.chunkSize, signal, log: this.#log, unit, claimed: c.path });
  }

  async commit(positions: DropPosition[]): Promise<void> {
    const latest = new Map<string, DropPosition>();
    for (const p of positions) latest.set(p.claimed, { ...latest.get(p.claimed), ...p });
    for (const [path, p] of latest) {
      const key = `drop:${path}`;
      const cp = await this.#ctx.state.getCheckpoint<DropCheckpoint>(key);
      if (!cp) continue;
      cp.offset = p.offset;
      cp.line = p.line;
      cp.resume = p.resume;
      if (p.failed) {
        await this.#reject(path, cp.folder, cp.name, p.failed, { offset: p.offset, sha256: cp.sha256, counts: this.#ctx.unitCounts(p.unit) });
        continue;
      }
      if (p.last) {
        cp.state = 'done';
        await this.#ctx.state.putCheckpoint(key, cp);
        await this.#finish(path, cp, p.unit);
      } else await this.#ctx.state.putCheckpoint(key, cp);
    }
  }

  /** Archive or delete a fully committed file; on failure keep it (state done) and retry later, never re-read it. */
  async #finish(path: string, cp: DropCheckpoint, unit: string | undefined): Promise<void> {
    const counts = unit ? this.#ctx.unitCounts(unit) : undefined;
    try {
      let where = 'deleted';
      if (this.#o.afterSuccess === 'delete') await unlink(path);
      else where = await moveInto(path, this.#archiveDir(cp.folder), basename(cp.name), { gzip: this.#o.archive.gzip, suffix: Date.now().toString(36) });
      await this.#ctx.state.deleteCheckpoint(`drop:${path}`);
      this.#pendingArchive.delete(path);
      this.#log.info(
        { file: cp.name, archived: where, linesRead: cp.line - 1, ...(counts ?? {}) },
        'file done',
      );
    } catch (err) {
      if (!this.#pendingArchive.has(path))
        this.#log.error({ file: cp.name, err: (err as Error).message }, 'file fully committed but could not be archived; will retry (it will not be read again)');
      this.#pendingArchive.add(path);
    }
  }

  /** Moves a file to the error folder with `<name>.error.json` beside it. */
  async #reject(path: string, folder: string, name: string, reason: string, details: Record<string, unknown>, duplicate = false): Promise<void> {
    const dir = this.#errorDir(folder);
    try {
      const target = await moveToErrorFolder(path, dir, name, reason, details);
      if (!duplicate) this.#log.error({ file: name, movedTo: target, reason }, 'file moved to the error folder');
    } catch (err) {
      this.#log.error({ file: name, reason, err: (err as Error).message }, 'file cannot be processed and cannot be moved to the error folder; it stays where it is');
      return;
    }
    if (!duplicate && typeof details.sha256 === 'string') await this.#ctx.state.releaseKeys(CONTENT_SCOPE, [details.sha256]);
    await this.#ctx.state.deleteCheckpoint(`drop:${path}`);
  }

  async close(): Promise<void> {
    for (const w of this.#watchers) w.close();
    this.#wake?.();
  }
}
