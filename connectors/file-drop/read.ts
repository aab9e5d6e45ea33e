/**
 * The parts of the file-drop source that do not depend on who claimed a file: the completeness check, the one-pass
 * inspection (size, SHA-256, NUL bytes), where archives and rejects go, and the streaming reader that turns one
 * claimed file into batches with byte-offset positions. Used by the single-process source (source.ts) and by the
 * worker pool (runtime/scaling/), which must produce the very same record refs — hence the same event ids.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { BoundFormat, DecodedRecord, Logger, SourceBatch, SourceRecord } from '../../runtime/contracts/spi.ts';
import { moveInto, writeErrorReport, type Candidate } from './folder.ts';

/** Where a file stands, as kept in the state store between commits. */
export interface DropCheckpoint {
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
  /** The claimed file (a path, or the pool's queued name): what the commit updates. */
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

/** A file that cannot be processed at all (empty, binary in a text format): it goes to the error folder. */
export class FileProblem extends Error {}

/**
 * Complete = not modified for `minAgeMs`, and a file younger than `minAgeMs + stableMs` kept the same size and
 * mtime across `stableMs`. Remembers what it saw between scans.
 */
export class Completeness {
  readonly #minAgeMs: number;
  readonly #stableMs: number;
  readonly #seen = new Map<string, { size: number; mtimeMs: number; at: number }>();

  constructor(minAgeMs: number, stableMs: number) {
    this.#minAgeMs = minAgeMs;
    this.#stableMs = stableMs;
  }

  complete(c: Candidate, now: number): boolean {
    const age = now - c.mtimeMs;
    if (age < this.#minAgeMs) return false;
    if (age >= this.#minAgeMs + this.#stableMs) return true;
    const prev = this.#seen.get(c.path);
    if (!prev || prev.size !== c.size || prev.mtimeMs !== c.mtimeMs) {
      this.#seen.set(c.path, { size: c.size, mtimeMs: c.mtimeMs, at: now });
      return this.#stableMs === 0;
    }
    return now - prev.at >= this.#stableMs;
  }

  /** Names still being watched for stability. */
  pending(): string[] {
    return [...this.#seen.keys()];
  }

  forget(path: string): void {
    this.#seen.delete(path);
  }

  clear(): void {
    this.#seen.clear();
  }
}

/** Size, SHA-256 and the first NUL byte (1-based, 0 = none, looked for in the first 64 KiB) of a file, in one pass. */
export async function inspectFile(path: string): Promise<{ size: number; sha256: string; nul: number }> {
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

/** The checks made before a file is read: throws FileProblem for an empty file or binary content in a text format. */
export function checkContent(info: { size: number; nul: number }, format: Pick<BoundFormat, 'name' | 'binary'>): void {
  if (info.size === 0) throw new FileProblem('file is empty (0 bytes)');
  if (info.nul && !format.binary) throw new FileProblem(`binary content (NUL byte at offset ${info.nul - 1}) in a ${format.name} file`);
}

export interface PlacementOptions {
  archive: { dir?: string; dated: boolean; gzip: boolean };
  errorDir?: string;
}

/** The archive folder of a drop folder (dated `YYYY/MM/DD` in UTC when asked). */
export function archiveDirOf(folder: string, o: PlacementOptions): string {
  const base = o.archive.dir ? resolve(folder, o.archive.dir) : join(folder, '.archive');
  if (!o.archive.dated) return base;
  const d = new Date().toISOString();
  return join(base, d.slice(0, 4), d.slice(5, 7), d.slice(8, 10));
}

export function errorDirOf(folder: string, o: PlacementOptions): string {
  return o.errorDir ? resolve(folder, o.errorDir) : join(folder, '.error');
}

/** Moves a file into the error folder with `<name>.error.json` beside it; returns where it went. Throws if it cannot. */
export async function moveToErrorFolder(
  path: string,
  dir: string,
  name: string,
  reason: string,
  details: Record<string, unknown>,
): Promise<string> {
  const target = await moveInto(path, dir, basename(name), { suffix: Date.now().toString(36) });
  await writeErrorReport(`${target}.error.json`, { file: name, reason, at: new Date().toISOString(), ...details });
  return target;
}

export interface ReadOptions {
  format: BoundFormat;
  batchSize: number;
  chunkSize: number;
  signal: AbortSignal;
  log: Logger;
  /** Accounting unit of the batches. */
  unit: string;
  /** `claimed` of the positions. */
  claimed: string;
}

/**
 * Streams one inspected file (cp.sha256 set) from its checkpoint through the format's decoder. Record refs are
 * `<name>@<sha256 12 hex>:<line>` (or `@<offset>` without lines). The last batch has `last: true`; a read error
 * yields what was read with `failed` set. On abort it yields what it has and returns (no `last`).
 */
export async function* readDropFile(
  path: string,
  cp: Pick<DropCheckpoint, 'name' | 'folder' | 'offset' | 'line' | 'resume' | 'sha256' | 'size'>,
  o: ReadOptions,
): AsyncGenerator<SourceBatch<DropPosition>> {
  const { format, batchSize, signal, unit } = o;
  const label = `${cp.name}@${cp.sha256!.slice(0, 12)}`;
  const meta = Object.freeze({ file: cp.name, folder: cp.folder, sha256: cp.sha256 });
  const decoder = format.streamDecoder({ file: cp.name, offset: cp.offset, line: cp.line, resume: cp.resume });
  let records: SourceRecord[] = [];
  let last: DecodedRecord | undefined;
  const pos = (extra: Partial<DropPosition> = {}): DropPosition => ({
    claimed: o.claimed,
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
    const highWaterMark = Math.max(4096, Math.min(o.chunkSize, (cp.size ?? o.chunkSize) - cp.offset));
    const stream = createReadStream(path, { start: cp.offset, highWaterMark });
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
    o.log.error({ file: cp.name, offset: last?.end ?? cp.offset, code: e.code, err: e.message }, 'file could not be read to the end');
    yield { records, position: pos({ failed: `read failed at byte ${last?.end ?? cp.offset}: ${e.message}` }), unit };
    return;
  }
  yield { records, position: pos({ last: true }), unit };
}
