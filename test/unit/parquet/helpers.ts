/** Shared helpers for the Parquet sink tests: canonical events, a sink on a temp lake, and DuckDB as the reader. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetSink, type ParquetSinkOptions } from '../../../connectors/parquet/index.ts';
import type { ParquetSink } from '../../../connectors/parquet/sink.ts';
import { EVENT_SCHEMA_VERSION, type InventoryEvent } from '../../../runtime/contracts/event.ts';
import type { DeadLetterInput } from '../../../runtime/contracts/spi.ts';
import { silentLog } from '../../support/fakes.ts';

export function lakeDir(prefix = 'sb-parquet-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Event k: deterministic, several stores and days, a few attributes, mixed signs. */
export function event(k: number, over: Partial<InventoryEvent> = {}): InventoryEvent {
  const day = 21 + (k % 3);
  const ms = String(k % 1000).padStart(3, '0');
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    eventId: `00000000-0000-4000-8000-${k.toString(16).padStart(12, '0')}`,
    eventType: k % 10 === 0 ? 'RETURN' : 'SALE',
    sku: `SKU${k % 97}`,
    gtin: k % 5 === 0 ? `0400638133393${k % 10}` : null,
    locationId: `S${k % 4}`,
    locationType: 'STORE',
    quantity: k % 10 === 0 ? `${(k % 7) + 1}.250` : `-${(k % 3) + 1}.000`,
    unitOfMeasure: 'EA',
    occurredAt: `2026-11-${day}T10:${String(k % 60).padStart(2, '0')}:00.${ms}Z`,
    references: k % 2 ? { documentId: `T${k}`, documentLine: '1' } : null,
    source: { system: 'pos', connector: 'test', recordRef: `r${k}`, receivedAt: '2026-11-23T00:00:00.000Z', pipeline: 'test' },
    attributes: k % 3 === 0 ? { channel: 'web', promo: `P${k % 5}` } : k % 3 === 1 ? {} : null,
    ...over,
  };
}

export function events(from: number, n: number): InventoryEvent[] {
  return Array.from({ length: n }, (_, i) => event(from + i));
}

export const DEFAULTS: ParquetSinkOptions = {
  path: '.',
  createPath: false,
  partitionBy: ['event_date'],
  rollRows: 1_000_000,
  rollBytes: 256 * 1024 * 1024,
  rollSeconds: 300,
  compression: 'snappy',
  compressionLevel: 3,
  rowGroupSize: 131_072,
  pageRows: 20_000,
  maxOpenFiles: 64,
  manifest: false,
  attributes: 'map',
  fsync: true,
  writerThread: true,
};

export interface TestSink {
  sink: ParquetSink;
  deadLetters: DeadLetterInput[];
}

export async function openSink(path: string, over: Partial<ParquetSinkOptions> = {}, pipeline = 'test'): Promise<TestSink> {
  const deadLetters: DeadLetterInput[] = [];
  const sink = (await parquetSink.create(
    { ...DEFAULTS, path, ...over },
    {
      pipeline,
      baseDir: path,
      stateDir: path,
      log: silentLog,
      sink: {
        pipeline,
        log: silentLog,
        state: undefined as never,
        deadLetter: async (e: DeadLetterInput) => {
          deadLetters.push(e);
        },
      },
    },
  )) as ParquetSink;
  return { sink, deadLetters };
}

/** Runs SQL in a fresh in-memory DuckDB and returns rows as JSON-friendly objects. */
export async function duck(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const reader = await con.runAndReadAll(sql);
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/** Exact sum of canonical quantities, in thousandths. */
export function sumThousandths(evs: readonly InventoryEvent[]): bigint {
  let s = 0n;
  for (const e of evs) s += BigInt(e.quantity.replace('.', ''));
  return s;
}

export function formatThousandths(v: bigint): string {
  const neg = v < 0n;
  const a = (neg ? -v : v).toString().padStart(4, '0');
  return `${neg ? '-' : ''}${a.slice(0, -3)}.${a.slice(-3)}`;
}
