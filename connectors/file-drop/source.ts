/**
 * The file-drop source: watch folders, claim complete files atomically, stream them through the mapping's input
 * format with a byte-offset checkpoint, archive (or delete) a file once all of it is committed, move files that
 * cannot be processed to the error folder with a `.error.json` report.
 *
 * Per claimed file the state store keeps `drop:<claimed path>` → DropCheckpoint. The processing folder is per
 * instance (`.processing/<instance id>/`, the id lives in the state store), so several processes sharing a folder
 * each recover only their own claims after a crash.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, watch, type FSWatcher } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { DecodedRecord, Logger, Source, SourceBatch, SourceContext, SourceRecord } from '../../runtime/contracts/spi.ts';
import { claim, exists, moveInto, scan, symlinkInside, writeErrorReport, type Candidate, type Selection } from './folder.ts';

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

interface DropCheckpoint {
  /** Name relative to its folder, as dropped. */
  name: string;
  folder: string;
  state: 'claimed' | 'reading' | 'done';
  offset: number;
  line: number;
  resume?: unknown;
  sha256?: string;
  size?: number;
  claimedAt: string;
}

export interface DropPosition {
  claimed: string;
  unit: string;
  offset: number;
  line: number;
  resume: unknown;
  /** Last batch of the file: archive it once committed. */
  last?: boolean;
  /** The file broke mid-way: once what came before is committed, move it to the error folder. */
  failed?: string;
}

const CONTENT_SCOPE = 'file-drop:content';
const INSTANCE_KEY = 'file-drop:instance';

interface Claimed {
  path: string;
  cp: DropCheckpoint;
}

class FileProblem extends Error {}

export class FileDropSource implements Source<DropPosition> {
  readonly #o: FileDropOptions;
  readonly #ctx: SourceContext;
  readonly #log: Logger;
  readonly #folders: string[];
  readonly #sel: Selection;
  #processing = '';
  /** name → first time it was seen with this size+mtime (stability check) */
  readonly #seen = new Map<string, { size: number; mtimeMs: number; at: number }>();
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
  }

  #archiveDir(folder: string): string {
    const base = this.#o.archive.dir ? resolve(folder, this.#o.archive.dir) : join(folder, '.archive');
    if (!this.#o.archive.dated) return base;
    const d = new Date().toISOString();
    return join(base, d.slice(0, 4), d.slice(5, 7), d.slice(8, 10));
  }

  #errorDir(folder: string): string {
    return this.#o.errorDir ? resolve(folder, this.#o.errorDir) : join(folder, '.error');
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
            this.#log.warn({ files: [...this.#seen.keys()] }, 'leaving files that are still being written (not stable yet)');
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
      if (!(await this.#complete(c, now))) {
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
      this.#seen.delete(key);
      if (!claimed) continue; // another process took it
      if (this.#o.doneMarker) await unlink(c.path + this.#o.doneMarker).catch(() => undefined);
      const cp: DropCheckpoint = { name: c.name, folder: c.folder, state: 'claimed', offset: 0, line: 1, claimedAt: new Date().toISOString() };
      await this.#ctx.state.putCheckpoint(`drop:${claimed}`, cp);
      return { path: claimed, cp };
    }
    return waiting ? 'waiting' : 'none';
  }

  /** Complete = old enough and unchanged in size and mtime for stableMs. */
  async #complete(c: Candidate, now: number): Promise<boolean> {
    const age = now - c.mtimeMs;
    if (age < this.#o.minAgeMs) return false;
    if (age >= this.#o.minAgeMs + this.#o.stableMs) return true;
    const prev = this.#seen.get(c.path);
    if (!prev || prev.size !== c.size || prev.mtimeMs !== c.mtimeMs) {
      this.#seen.set(c.path, { size: c.size, mtimeMs: c.mtimeMs, at: now });
      return this.#o.stableMs === 0;
    }
    return now - prev.at >= this.#o.stableMs;
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
        const { size, sha256, nul } = await this.#inspect(c.path);
        if (size === 0) throw new FileProblem('file is empty (0 bytes)');
        if (nul && !format.binary) throw new FileProblem(`binary content (NUL byte at offset ${nul - 1}) in a ${format.name} file`);
        if (this.#o.duplicateWindowHours > 0) {
          const dup = await state.claimKeys(CONTENT_SCOPE, [sha256], this.#o.duplicateWindowHours * 3_600_000);
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
    const label = `${cp.name}@${cp.sha256!.slice(0, 12)}`;
    const meta = Object.freeze({ file: cp.name, folder: cp.folder, sha256: cp.sha256 });
    const decoder = format.streamDecoder({ file: cp.name, offset: cp.offset, line: cp.line, resume: cp.resume });
    let records: SourceRecord[] = [];
    let last: DecodedRecord | undefined;
    const pos = (extra: Partial<DropPosition> = {}): DropPosition => ({
      claimed: c.path,
      unit,
      offset: last ? last.end : cp.offset,
      line: last ? (last.endLine ?? (last.line ?? 0) + 1) : cp.line,
      resume: last ? decoder.resumeState() : cp.resume,
      ...extra,
    });
    const take = (r: DecodedRecord) => {
      const ref = r.line !== undefined ? `${label}:${r.line}` : `${label}@${r.offset}`;
      records.push(r.error ? { ref, payload: r.raw, meta, error: { ...r.error, file: cp.name } } : { ref, value: r.value, payload: r.raw, meta });
      last = r;
    };
    try {
      const highWaterMark = Math.max(4096, Math.min(this.#o.chunkSize, (cp.size ?? this.#o.chunkSize) - cp.offset));
      const stream = createReadStream(c.path, { start: cp.offset, highWaterMark });
      for await (const chunk of stream) {
        for (const r of decoder.push(chunk as Buffer)) {
          take(r);
          if (records.length >= batchSize) {
            yield { records, position: pos(), unit };
            records = [];
          }
        }
        if (signal.aborted) {
          stream.destroy();
          if (records.length) yield { records, position: pos(), unit };
          return;
        }
      }
      for (const r of decoder.end()) take(r);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.#log.error({ file: cp.name, offset: last?.end ?? cp.offset, code: e.code, err: e.message }, 'file could not be read to the end');
      yield { records, position: pos({ failed: `read failed at byte ${last?.end ?? cp.offset}: ${e.message}` }), unit };
      return;
    }
    yield { records, position: pos({ last: true }), unit };
  }

  /** Size, SHA-256 and the first NUL byte (1-based, 0 = none) of a file, in one streaming pass. */
  async #inspect(path: string): Promise<{ size: number; sha256: string; nul: number }> {
    const h = createHash('sha256');
    let size = 0;
    let nul = 0;
    // Read buffers sized to the file: a 1 MiB buffer per 1 KiB store file is what dominates small-file runs.
    const highWaterMark = Math.max(4096, Math.min(1 << 20, (await stat(path)).size));
    for await (const chunk of createReadStream(path, { highWaterMark }) as AsyncIterable<Buffer>) {
      h.update(chunk);
      if (!nul && size < 1 << 16) {
        const i = chunk.indexOf(0);
        if (i >= 0 && size + i < 1 << 16) nul = size + i + 1;
      }
      size += chunk.length;
    }
    return { size, sha256: h.digest('hex'), nul };
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
      const target = await moveInto(path, dir, basename(name), { suffix: Date.now().toString(36) });
      await writeErrorReport(`${target}.error.json`, { file: name, reason, at: new Date().toISOString(), ...details });
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
