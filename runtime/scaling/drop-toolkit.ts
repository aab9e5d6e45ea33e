/**
 * What the pool needs from the file-drop connector, as a structural interface: the runtime imports no connector
 * (docs/architecture.md), so `stockbridge worker` hands these in from connectors/file-drop/ (folder.ts, read.ts).
 * The pool reuses the connector's own completeness check, claim, inspection, archive/error placement and reader,
 * so a file gets the same record refs — hence the same event ids — in a pool as in a single process.
 */
import type { BoundFormat, Logger, SourceBatch } from '../contracts/spi.ts';

/** The file-drop source options (connectors/file-drop/source.ts FileDropOptions, defaults filled by the loader). */
export interface DropOptions {
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

export interface DropCandidate {
  folder: string;
  path: string;
  name: string;
  size: number;
  mtimeMs: number;
  symlink: boolean;
}

export interface DropSelection {
  include: string[];
  exclude: string[];
  tempPatterns: string[];
  doneMarker?: string;
  recursive: boolean;
}

export interface DropPositionLike {
  claimed: string;
  unit: string;
  offset: number;
  line: number;
  resume: unknown;
  last?: boolean;
  failed?: string;
}

export interface DropReadState {
  name: string;
  folder: string;
  offset: number;
  line: number;
  resume?: unknown;
  sha256?: string;
  size?: number;
}

export interface CompletenessLike {
  complete(c: DropCandidate, now: number): boolean;
  forget(path: string): void;
  clear(): void;
}

export interface DropToolkit {
  scan(folder: string, sel: DropSelection): Promise<DropCandidate[]>;
  claim(src: string, dir: string, claimName: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
  symlinkInside(path: string, folder: string): Promise<string | undefined>;
  moveInto(src: string, dir: string, name: string, opts: { gzip?: boolean; suffix: string }): Promise<string>;
  newCompleteness(minAgeMs: number, stableMs: number): CompletenessLike;
  inspectFile(path: string): Promise<{ size: number; sha256: string; nul: number }>;
  /** Throws (a FileProblem) for an empty file or binary content in a text format. */
  checkContent(info: { size: number; nul: number }, format: Pick<BoundFormat, 'name' | 'binary'>): void;
  archiveDirOf(folder: string, o: Pick<DropOptions, 'archive' | 'errorDir'>): string;
  errorDirOf(folder: string, o: Pick<DropOptions, 'archive' | 'errorDir'>): string;
  moveToErrorFolder(path: string, dir: string, name: string, reason: string, details: Record<string, unknown>): Promise<string>;
  readDropFile(
    path: string,
    cp: DropReadState,
    o: { format: BoundFormat; batchSize: number; chunkSize: number; signal: AbortSignal; log: Logger; unit: string; claimed: string },
  ): AsyncGenerator<SourceBatch<DropPositionLike>>;
}

/** The shared area claimed files wait in until a worker has archived them: `<first folder>/.queued/`. */
export const QUEUED_DIR = '.queued';

/** What a file job carries. Paths are relative to the drop folders so workers may mount the share elsewhere. */
export interface FileJobData {
  v: 1;
  /** Name relative to its drop folder, as dropped (record refs and archive names use it). */
  name: string;
  /** Index of the drop folder in the pipeline's `path` list. */
  folderIndex: number;
  /** File name inside `<first folder>/.queued/`. */
  queued: string;
  sha256: string;
  size: number;
  enqueuedAt: string;
  /** Fencing token of the watcher that enqueued it. */
  fence: number;
}

export function selectionOf(o: DropOptions): DropSelection {
  return { include: o.include, exclude: o.exclude, tempPatterns: o.tempPatterns, doneMarker: o.doneMarker, recursive: o.recursive };
}
