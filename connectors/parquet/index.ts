/**
 * `parquet`: canonical events as Parquet files in a Hive-partitioned data lake (pandas/pyarrow, DuckDB, Spark).
 * Files are written under `_staging/` and renamed into place once complete and fsynced; a write() is acknowledged
 * only when the file holding its events is published, so the source position commits only after that.
 * See README.md for types, layout and the publish protocol.
 */
import { existsSync, mkdirSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EVENT_SCHEMA_VERSION } from '../../runtime/contracts/event.ts';
import { ConfigError, type SinkSpec } from '../../runtime/contracts/spi.ts';
import { type AttributesAs, eventFields, PARTITION_COLUMNS, type PartitionColumn } from './events.ts';
import type { WriterConfig } from './file-writer.ts';
import { InlineBackend, type ParquetWriterBackend, WorkerBackend } from './protocol.ts';
import { ParquetSink } from './sink.ts';

export interface ParquetSinkOptions {
  path: string;
  createPath: boolean;
  partitionBy: PartitionColumn[];
  rollRows: number;
  rollBytes: number;
  rollSeconds: number;
  compression: 'snappy' | 'zstd';
  compressionLevel: number;
  rowGroupSize: number;
  pageRows: number;
  maxOpenFiles: number;
  manifest: boolean;
  attributes: AttributesAs;
  fsync: boolean;
  writerThread: boolean;
}

export const WRITER_NAME = 'stockbridge parquet sink';

export const parquetSink: SinkSpec<ParquetSinkOptions> = {
  kind: 'sink',
  name: 'parquet',
  summary: 'Canonical events as Parquet files in a Hive-partitioned data lake (atomic publish; pandas, DuckDB, Spark).',
  delivery:
    'at-least-once: a write is acknowledged when the file holding its events is fsynced and renamed into place; a crash leaves no visible partial file, and re-delivered events carry the same eventId',
  options: {
    required: ['path'],
    properties: {
      path: { type: 'string', minLength: 1, description: 'Lake root directory (relative to the pipeline file).' },
      createPath: {
        type: 'boolean',
        default: false,
        description: 'Create `path` when missing. Off by default: a missing mount fails at start instead of filling the system disk.',
      },
      partitionBy: {
        type: 'array',
        items: { enum: [...PARTITION_COLUMNS] },
        uniqueItems: true,
        default: ['event_date'],
        description: 'Hive partition columns, outermost first (`event_date=2026-11-21/location_id=S001/`). Partition columns are not repeated inside the files.',
      },
      rollRows: { type: 'integer', minimum: 1, default: 1_000_000, description: 'Publish a file once it holds this many rows.' },
      rollBytes: {
        type: 'integer',
        minimum: 1024,
        default: 268_435_456,
        description: 'Publish a file once it reaches about this size on disk (estimated from encoded bytes and the compression ratio seen so far).',
      },
      rollSeconds: { type: 'number', minimum: 0, default: 300, description: 'Publish a file at the latest this long after it was opened (0: no age limit).' },
      compression: { enum: ['snappy', 'zstd'], default: 'snappy', description: 'Page compression codec.' },
      compressionLevel: { type: 'integer', minimum: 1, maximum: 22, default: 3, description: 'zstd level.' },
      rowGroupSize: { type: 'integer', minimum: 1, default: 131_072, description: 'Rows per row group (the unit held in memory per open file).' },
      pageRows: { type: 'integer', minimum: 1, default: 20_000, description: 'Rows per data page.' },
      maxOpenFiles: {
        type: 'integer',
        minimum: 1,
        default: 64,
        description: 'Open files (one per partition) at most; opening one more publishes the oldest. Bounds memory with rowGroupSize.',
      },
      manifest: {
        type: 'boolean',
        default: false,
        description: 'Write `_manifests/<partition>/<file>.json` for each published file (rows, bytes, sha256, occurredAt and eventId ranges).',
      },
      attributes: {
        enum: ['map', 'json'],
        default: 'map',
        description: '`attributes` as a MAP<STRING, STRING> column, or as JSON text (for engines without map support).',
      },
      fsync: { type: 'boolean', default: true, description: 'fsync files and directories when publishing (turn off only for throwaway data).' },
      writerThread: { type: 'boolean', default: true, description: 'Encode and write in a worker thread (off: on the pipeline thread; for debugging).' },
    },
  },
  example: 'sinks:\n  - type: parquet\n    path: ../lake/inventory_events\n    partitionBy: [event_date]\n    manifest: true',
  async create(options, ctx) {
    const root = resolve(ctx.baseDir, options.path);
    const staging = prepareRoot(root, options.createPath, ctx.pipeline);
    const removed = cleanOrphans(staging);
    if (removed) ctx.log.warn({ path: staging, removed }, 'parquet: removed unfinished files left by an earlier run (their events were never acknowledged)');
    const cfg = writerConfig(root, staging, options, ctx.pipeline);
    const backend: ParquetWriterBackend = options.writerThread ? await WorkerBackend.start(cfg) : await InlineBackend.start(cfg);
    return new ParquetSink(
      {
        pipeline: ctx.pipeline,
        partitionBy: options.partitionBy,
        rollRows: options.rollRows,
        rollBytes: options.rollBytes,
        rollSeconds: options.rollSeconds,
        rowGroupSize: options.rowGroupSize,
        maxOpenFiles: options.maxOpenFiles,
        manifest: options.manifest,
        attributes: options.attributes,
      },
      backend,
      ctx.log,
      (e) => ctx.sink.deadLetter(e),
    );
  },
};

export function writerConfig(root: string, staging: string, o: ParquetSinkOptions, pipeline: string): WriterConfig {
  return {
    root,
    staging,
    fields: eventFields(o.partitionBy, o.attributes),
    codec: o.compression,
    zstdLevel: o.compressionLevel,
    pageRows: o.pageRows,
    fsync: o.fsync,
    manifest: o.manifest,
    createdBy: WRITER_NAME,
    metadata: {
      'stockbridge.record': 'InventoryEvent',
      'stockbridge.eventSchemaVersion': String(EVENT_SCHEMA_VERSION),
      'stockbridge.pipeline': pipeline,
      'stockbridge.partitionBy': o.partitionBy.join(','),
    },
  };
}

function errno(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message}` : String(e.message ?? err);
}

/** Checks the lake root at start and creates the staging directory; problems are ConfigErrors (exit code 2). */
export function prepareRoot(root: string, createPath: boolean, pipeline: string): string {
  if (!existsSync(root)) {
    if (!createPath) throw new ConfigError(`parquet sink: path ${root} does not exist (create it, or set createPath: true)`);
    try {
      mkdirSync(root, { recursive: true });
    } catch (err) {
      throw new ConfigError(`parquet sink: cannot create path ${root}: ${errno(err)}`);
    }
  }
  if (!statSync(root).isDirectory()) throw new ConfigError(`parquet sink: path ${root} is not a directory`);
  const staging = join(root, '_staging', pipeline.replace(/[^A-Za-z0-9_-]/g, '_') || 'pipeline');
  try {
    mkdirSync(staging, { recursive: true });
    // A real write: permission bits alone do not tell (root, read-only mounts, ACLs).
    const probe = join(staging, `.probe-${process.pid}`);
    writeFileSync(probe, 'ok', { flag: 'w' });
    unlinkSync(probe);
  } catch (err) {
    throw new ConfigError(`parquet sink: cannot write to ${root}: ${errno(err)}`);
  }
  return staging;
}

/** Removes what a crashed run left in this pipeline's staging directory; returns how many files. */
export function cleanOrphans(staging: string): number {
  let n = 0;
  for (const f of readdirSync(staging)) {
    try {
      unlinkSync(join(staging, f));
      n++;
    } catch {}
  }
  return n;
}
