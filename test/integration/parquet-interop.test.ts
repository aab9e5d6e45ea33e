/**
 * Files of the Parquet sink read by pyarrow and pandas (PyPI; `.ci/run` installs them best effort): row counts,
 * Arrow types (timestamp[us, tz=UTC], decimal128(18, 3), date32, map<string, string>), Hive partitions, values
 * and exact decimal sums. Skipped, with the reason in the test name, when python3 lacks pyarrow or pandas.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { ParquetSink } from '../../connectors/parquet/sink.ts';
import { event, events, formatThousandths, lakeDir, openSink, sumThousandths } from '../unit/parquet/helpers.ts';

const hasPyarrow = spawnSync('python3', ['-c', 'import pyarrow, pandas'], { encoding: 'utf8' }).status === 0;

const sinks: ParquetSink[] = [];
afterAll(async () => {
  for (const s of sinks) await s.close().catch(() => undefined);
});

function python(script: string, ...args: string[]): any {
  const r = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const READ = `
import json, sys, decimal
import pyarrow as pa, pyarrow.dataset as ds, pyarrow.parquet as pq, pyarrow.compute as pc
root = sys.argv[1]
part = ds.partitioning(pa.schema([("event_date", pa.date32()), ("location_id", pa.string())]), flavor="hive")
d = ds.dataset(root, format="parquet", partitioning=part)
t = d.to_table()
df = t.to_pandas()
out = {
  "rows": t.num_rows,
  "types": {f.name: str(f.type) for f in t.schema},
  "arrow_sum": str(pc.sum(t.column("quantity")).as_py()),
  "pandas_sum": str(sum(df["quantity"], decimal.Decimal(0))),
  "pandas_dtypes": {c: str(df[c].dtype) for c in ["occurred_at", "quantity", "sku", "event_date"]},
  "rows_by_id": {},
}
for r in t.to_pylist():
  out["rows_by_id"][r["event_id"]] = {
    "q": str(r["quantity"]), "at": r["occurred_at"].isoformat(), "tz": str(r["occurred_at"].tzinfo),
    "d": r["event_date"].isoformat(), "loc": r["location_id"], "gtin": r["gtin"],
    "attrs": None if r["attributes"] is None else dict(r["attributes"]),
    "doc": r["document_id"], "received": r["source_received_at"].isoformat(),
  }
# pq.read_table on a single file, with the plain reader too
one = pq.ParquetFile(sys.argv[2])
out["file_schema"] = {f.name: str(f.type) for f in one.schema_arrow}
out["created_by"] = one.metadata.created_by
print(json.dumps(out))
`;

describe('parquet sink interop with pyarrow and pandas', () => {
  it.skipIf(!hasPyarrow)('reads row counts, types, values and exact decimal sums [needs python3 with pyarrow + pandas]', async () => {
    const dir = lakeDir();
    const { sink } = await openSink(dir, { partitionBy: ['event_date', 'location_id'], compression: 'zstd' });
    sinks.push(sink);
    const evs = events(0, 4000);
    evs.push(event(9000, { quantity: '123456789012345.678', occurredAt: '2026-11-21T12:00:00.000001Z', attributes: { 'ü k': 'v "1"' } }));
    await Promise.all([sink.write(evs, {}), sink.flush()]);
    const anyFile = `${dir}/${sink.published[0].file}`;
    const r = python(READ, dir, anyFile);

    expect(r.rows).toBe(evs.length);
    expect(r.types).toMatchObject({
      event_id: 'string',
      quantity: 'decimal128(18, 3)',
      occurred_at: 'timestamp[us, tz=UTC]',
      source_received_at: 'timestamp[us, tz=UTC]',
      attributes: expect.stringMatching(/^map<string, string/),
      event_date: 'date32[day]',
      location_id: 'string',
      schema_version: 'int32',
    });
    expect(r.file_schema).not.toHaveProperty('event_date');
    expect(r.created_by).toBe('stockbridge parquet sink');
    const total = formatThousandths(sumThousandths(evs));
    expect(r.arrow_sum).toBe(total);
    expect(r.pandas_sum).toBe(total);
    expect(r.pandas_dtypes.occurred_at).toMatch(/^datetime64\[us, UTC\]$/);
    expect(r.pandas_dtypes.quantity).toBe('object'); // decimal.Decimal values: exact

    for (const e of evs) {
      const got = r.rows_by_id[e.eventId];
      expect(got, e.eventId).toBeDefined();
      expect(got.q).toBe(e.quantity);
      // Python prints microseconds only when not zero.
      const micros = (e.occurredAt.slice(20, -1) || '0').padEnd(6, '0');
      expect(got.at).toBe(`${e.occurredAt.slice(0, 19)}${micros === '000000' ? '' : `.${micros}`}+00:00`);
      expect(got.tz).toBe('UTC');
      expect(got.d).toBe(e.occurredAt.slice(0, 10));
      expect(got.loc).toBe(e.locationId);
      expect(got.gtin).toBe(e.gtin ?? null);
      expect(got.doc).toBe(e.references?.documentId ?? null);
      expect(got.attrs).toEqual(e.attributes ?? null);
      expect(got.received).toBe('2026-11-23T00:00:00+00:00');
    }
  });
});
