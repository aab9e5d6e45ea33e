/**
 * The file side of the sink: writes row groups into a staging file and publishes it atomically. Runs in the
 * writer thread (worker.ts); synchronous file calls are fine there, they never block the pipeline's event loop.
 *
 * Publish protocol (see README): footer → fsync file → write + fsync the manifest under staging (optional) →
 * mkdir the partition (fsync new directory entries) → rename the data file into place → fsync its directory →
 * rename the manifest into `_manifests/` → fsync that directory. Until the data rename, nothing is visible to a
 * reader: staging lives under `_staging/`, which Spark, Hive, pyarrow and DuckDB's `**\/*.parquet` globs skip.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Codec, compressor, type Field, ParquetEncoder, type RowGroupData } from './format/encoder.ts';

export interface WriterConfig {
  /** Lake root (absolute). */
  root: string;
  /** Staging directory for files being written (absolute, under root). */
  staging: string;
  fields: Field[];
  codec: Codec;
  zstdLevel: number;
  pageRows: number;
  fsync: boolean;
  manifest: boolean;
  createdBy: string;
  metadata: Record<string, string>;
}

export interface FileTarget {
  id: number;
  /** Partition directory relative to root (`event_date=2026-11-21`), '' when unpartitioned. */
  dir: string;
  /** Final file name (`<ts>-<pipeline>-<seq>-<rand>.parquet`). */
  name: string;
}

/** Facts about the file that only the sink knows (for the manifest). */
export interface ManifestInput {
  partition: Record<string, string>;
  minOccurredAt?: string;
  maxOccurredAt?: string;
  minEventId?: string;
  maxEventId?: string;
  pipeline: string;
  eventSchemaVersion: number;
}

export interface PublishedFile {
  /** Path relative to root, with `/` separators. */
  file: string;
  rows: number;
  rowGroups: number;
  bytes: number;
  sha256?: string;
  manifest?: string;
}

/** An error with the errno code kept (messages cross the thread boundary as plain objects). */
export interface WriterError {
  message: string;
  code?: string;
  path?: string;
}

interface OpenFile {
  target: FileTarget;
  tmp: string;
  fd: number;
  encoder: ParquetEncoder;
  hash?: Hash;
  rowGroups: number;
  failed?: WriterError;
}

function asWriterError(err: unknown, what: string): WriterError {
  const e = err as NodeJS.ErrnoException;
  return { message: `${what}: ${e?.message ?? String(err)}`, code: e?.code, path: e?.path };
}

/** Writes the buffers in order with writev (no copy into one big buffer), finishing short writes. */
function writeAll(fd: number, bufs: Uint8Array[], hash?: Hash): void {
  for (let i = 0; i < bufs.length; i += 512) {
    const slice = bufs.slice(i, i + 512);
    let done = writevSync(fd, slice);
    for (const b of slice) {
      hash?.update(b);
      if (done >= b.length) {
        done -= b.length;
        continue;
      }
      let off = done;
      done = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    }
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** mkdir -p below root; fsyncs the parent of every directory it created so the new entries survive a power cut. */
function ensureDir(root: string, rel: string, fsync: boolean): string {
  const dir = rel ? join(root, rel) : root;
  const first = mkdirSync(dir, { recursive: true });
  if (first && fsync) {
    // Directories from `first` down to `dir` are new: fsync each one's parent.
    let d = dir;
    const chain: string[] = [];
    while (d.length >= first.length) {
      chain.push(dirname(d));
      if (d === first) break;
      d = dirname(d);
    }
    for (const p of chain) fsyncDir(p);
  }
  return dir;
}

export class FileWriter {
  readonly #cfg: WriterConfig;
  readonly #files = new Map<number, OpenFile>();
  #compress: Awaited<ReturnType<typeof compressor>> | undefined;

  constructor(cfg: WriterConfig) {
    this.#cfg = cfg;
  }

  /** Loads the codec (snappy is a native module): call once before writing. */
  async init(): Promise<void> {
    this.#compress = await compressor(this.#cfg.codec, this.#cfg.zstdLevel);
  }

  #open(target: FileTarget): OpenFile {
    const cfg = this.#cfg;
    const tmp = join(cfg.staging, `${target.name}.inprogress`);
    // The lake root must still be there: never recreate it (a missing mount would fill the wrong disk).
    statSync(cfg.root);
    const fd = openSync(tmp, 'wx');
    const encoder = new ParquetEncoder(cfg.fields, { codec: cfg.codec, zstdLevel: cfg.zstdLevel, pageRows: cfg.pageRows, createdBy: cfg.createdBy, metadata: cfg.metadata }, this.#compress!);
    const f: OpenFile = { target, tmp, fd, encoder, rowGroups: 0, hash: cfg.manifest ? createHash('sha256') : undefined };
    this.#files.set(target.id, f);
    writeAll(fd, encoder.start(), f.hash);
    return f;
  }

  /** Appends one row group. A failure is kept and reported by publish(); the file is dropped at once. */
  rowGroup(target: FileTarget, rg: RowGroupData): void {
    let f = this.#files.get(target.id);
    if (f?.failed) return;
    try {
      f ??= this.#open(target);
      writeAll(f.fd, f.encoder.rowGroup(rg), f.hash);
      f.rowGroups++;
    } catch (err) {
      const failed = asWriterError(err, `writing ${target.dir ? `${target.dir}/` : ''}${target.name}`);
      if (f) {
        this.#drop(f);
        f.failed = failed;
      } else this.#files.set(target.id, { target, tmp: '', fd: -1, encoder: undefined as never, rowGroups: 0, failed });
    }
  }

  #drop(f: OpenFile): void {
    if (f.fd >= 0) {
      try {
        closeSync(f.fd);
      } catch {}
      f.fd = -1;
    }
    if (f.tmp)
      try {
        unlinkSync(f.tmp);
      } catch {}
  }

  /** Footer, fsync, rename into the partition directory, manifest. Throws a WriterError. */
  publish(target: FileTarget, manifest?: ManifestInput): PublishedFile {
    const f = this.#files.get(target.id);
    this.#files.delete(target.id);
    const rel = target.dir ? `${target.dir}/${target.name}` : target.name;
    if (!f) throw { message: `publishing ${rel}: no rows were written to it` } satisfies WriterError;
    if (f.failed) throw f.failed;
    const cfg = this.#cfg;
    let manifestTmp: string | undefined;
    try {
      writeAll(f.fd, f.encoder.finish(), f.hash);
      if (cfg.fsync) fsyncSync(f.fd);
      closeSync(f.fd);
      f.fd = -1;
      const out: PublishedFile = { file: rel, rows: f.encoder.rows, rowGroups: f.rowGroups, bytes: f.encoder.offset };
      let manifestDir: string | undefined;
      if (cfg.manifest && manifest) {
        out.sha256 = f.hash!.digest('hex');
        out.manifest = `_manifests/${rel}.json`;
        const doc = {
          file: rel,
          partition: manifest.partition,
          rows: out.rows,
          rowGroups: out.rowGroups,
          bytes: out.bytes,
          sha256: out.sha256,
          minOccurredAt: manifest.minOccurredAt,
          maxOccurredAt: manifest.maxOccurredAt,
          minEventId: manifest.minEventId,
          maxEventId: manifest.maxEventId,
          compression: cfg.codec,
          pipeline: manifest.pipeline,
          eventSchemaVersion: manifest.eventSchemaVersion,
          createdBy: cfg.createdBy,
          publishedAt: new Date().toISOString(),
        };
        manifestTmp = join(cfg.staging, `${target.name}.json.inprogress`);
        const mfd = openSync(manifestTmp, 'wx');
        try {
          writeAll(mfd, [Buffer.from(`${JSON.stringify(doc, null, 2)}\n`)]);
          if (cfg.fsync) fsyncSync(mfd);
        } finally {
          closeSync(mfd);
        }
        manifestDir = ensureDir(cfg.root, target.dir ? `_manifests/${target.dir}` : '_manifests', cfg.fsync);
      }
      statSync(cfg.root);
      const dir = ensureDir(cfg.root, target.dir, cfg.fsync);
      renameSync(f.tmp, join(dir, target.name));
      f.tmp = '';
      if (cfg.fsync) fsyncDir(dir);
      if (manifestTmp && manifestDir) {
        renameSync(manifestTmp, join(manifestDir, `${target.name}.json`));
        manifestTmp = undefined;
        if (cfg.fsync) fsyncDir(manifestDir);
      }
      return out;
    } catch (err) {
      this.#drop(f);
      if (manifestTmp)
        try {
          unlinkSync(manifestTmp);
        } catch {}
      throw asWriterError(err, `publishing ${rel}`);
    }
  }

  /** Drops an unpublished file. */
  discard(id: number): void {
    const f = this.#files.get(id);
    this.#files.delete(id);
    if (f) this.#drop(f);
  }

  /** Drops every unpublished file (shutdown without flush). */
  discardAll(): void {
    for (const id of [...this.#files.keys()]) this.discard(id);
  }
}
