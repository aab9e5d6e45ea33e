/**
 * The drop folder's file system side: which files are complete and eligible, atomic claims, archive and error
 * moves (rename within a file system; copy + fsync + unlink across devices; optional gzip).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, matchesGlob, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export interface Candidate {
  folder: string;
  path: string;
  /** Path relative to the folder (the name used in refs and archives). */
  name: string;
  size: number;
  mtimeMs: number;
  symlink: boolean;
}

export interface Selection {
  include: string[];
  exclude: string[];
  tempPatterns: string[];
  doneMarker?: string;
  recursive: boolean;
}

/** Always ignored: dot-files (our own work folders are dot-folders too) and the configured temporary names. */
export function selected(name: string, sel: Selection): boolean {
  const base = basename(name);
  if (base.startsWith('.')) return false;
  if (sel.doneMarker && base.endsWith(sel.doneMarker)) return false;
  if (sel.tempPatterns.some((p) => matchesGlob(base, p))) return false;
  if (!sel.include.some((p) => matchesGlob(base, p) || matchesGlob(name, p))) return false;
  if (sel.exclude.some((p) => matchesGlob(base, p) || matchesGlob(name, p))) return false;
  return true;
}

/** Lists candidate files of a folder (not yet checked for completeness), oldest first. */
export async function scan(folder: string, sel: Selection): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const walk = async (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const path = join(dir, e.name);
      const name = relative(folder, path).split(sep).join('/');
      if (e.isDirectory()) {
        if (sel.recursive) await walk(path);
        continue;
      }
      if (!e.isFile() && !e.isSymbolicLink()) continue;
      if (!selected(name, sel)) continue;
      try {
        const st = await lstat(path);
        out.push({ folder, path, name, size: st.size, mtimeMs: st.mtimeMs, symlink: st.isSymbolicLink() });
      } catch {
        // vanished between readdir and lstat: another process claimed it
      }
    }
  };
  await walk(folder);
  return out.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
}

/** Where a symlink points, if that is inside the folder; otherwise undefined. */
export async function symlinkInside(path: string, folder: string): Promise<string | undefined> {
  try {
    const target = await realpath(path);
    const root = await realpath(folder);
    return target.startsWith(root + sep) ? target : undefined;
  } catch {
    return undefined;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A name in `dir` not used yet: `name`, else `stem.<suffix>.ext`. */
async function freeName(dir: string, name: string, suffix: string): Promise<string> {
  const target = join(dir, name);
  if (!(await exists(target)) && !(await exists(`${target}.gz`))) return target;
  const ext = extname(name);
  return join(dir, `${name.slice(0, name.length - ext.length)}.${suffix}${ext}`);
}

/**
 * Moves a file to `dir` (created if needed) under a free name; gzip on request. Same file system: rename.
 * Otherwise (or for gzip): write a temporary dot-file, fsync, rename, then unlink the source. Returns the new path.
 */
export async function moveInto(src: string, dir: string, name: string, opts: { gzip?: boolean; suffix: string }): Promise<string> {
  await mkdir(dir, { recursive: true });
  let target = await freeName(dir, name, opts.suffix);
  if (opts.gzip) target += '.gz';
  if (!opts.gzip) {
    try {
      await rename(src, target);
      await fsyncDir(dir);
      return target;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    }
  }
  const tmp = join(dir, `.${basename(target)}.${opts.suffix}.tmp`);
  try {
    const streams: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [createReadStream(src)];
    if (opts.gzip) streams.push(createGzip());
    streams.push(createWriteStream(tmp, { flags: 'wx' }));
    await (pipeline as (...s: unknown[]) => Promise<void>)(...streams);
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    await rename(tmp, target);
    await fsyncDir(dir);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await unlink(src);
  return target;
}

/** Claims a file atomically: rename into this instance's processing folder. False when someone else got it. */
export async function claim(src: string, processingDir: string, claimName: string): Promise<string | undefined> {
  await mkdir(processingDir, { recursive: true });
  const target = join(processingDir, claimName);
  try {
    await rename(src, target);
    return target;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writeErrorReport(path: string, report: unknown): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`);
  await rename(tmp, path);
}

