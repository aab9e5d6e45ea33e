/**
 * The Parquet sink end to end on a temp lake, with DuckDB as the independent reader: types, values, exact sums,
 * partitions, rolling, acknowledgement at publish, atomic publish and orphan cleanup, manifests, dead letters.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { ParquetSink } from '../../../connectors/parquet/sink.ts';
import { DELIVERY_DEFAULTS } from '../../../runtime/config/pipeline-schema.ts';
import type { StateStore } from '../../../runtime/contracts/spi.ts';
import { Engine } from '../../../runtime/engine/engine.ts';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';
import { ScriptedSource, records, silentLog, testMapping } from '../../support/fakes.ts';
import { duck, event, events, formatThousandths, lakeDir, openSink, sumThousandths } from './helpers.ts';

const open: ParquetSink[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
});

async function sinkAt(path: string, over: Parameters<typeof openSink>[1] = {}, pipeline = 'test') {
  const t = await openSink(path, over, pipeline);
  open.push(t.sink);
  return t;
}

/** Every file under dir, relative, sorted. */
function walk(dir: string): string[] {
  const out: string[] = [];
  const go = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) go(p);
      else out.push(relative(dir, p));
    }
  };
  go(dir);
  return out.sort();
}

const visible = (dir: string) => walk(dir).filter((f) => f.endsWith('.parquet') && !f.startsWith('_'));

describe('parquet sink: types and values (read back with DuckDB)', () => {
  it('writes canonical types that DuckDB reads exactly, including exact decimal sums', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir);
    const evs = events(0, 3000);
    evs.push(event(5000, { quantity: '999999999999999.999', occurredAt: '2026-11-21T23:59:59.999999Z', attributes: { 'k=v/ü': 'Grüße "x"' } }));
    evs.push(event(5001, { quantity: '-999999999999999.999', occurredAt: '2026-11-21T00:00:00Z' }));
    await Promise.all([sink.write(evs.slice(0, 1000), {}), sink.write(evs.slice(1000), {}), sink.flush()]);

    const glob = `${dir}/**/*.parquet`;
    const types = Object.fromEntries(
      (await duck(`DESCRIBE SELECT * FROM read_parquet('${glob}', hive_partitioning = false)`)).map((r) => [r.column_name, r.column_type]),
    );
    expect(types).toMatchObject({
      event_id: 'VARCHAR',
      event_type: 'VARCHAR',
      sku: 'VARCHAR',
      quantity: 'DECIMAL(18,3)',
      occurred_at: 'TIMESTAMP WITH TIME ZONE',
      source_received_at: 'TIMESTAMP WITH TIME ZONE',
      attributes: 'MAP(VARCHAR, VARCHAR)',
      schema_version: 'INTEGER',
    });
    expect(types).not.toHaveProperty('event_date'); // the partition column lives in the path

    const [agg] = await duck(
      `SET TimeZone = 'UTC'; SELECT count(*) AS n, sum(quantity)::VARCHAR AS total, count(gtin) AS gtins, count(document_id) AS docs,
              count(attributes) AS attrs, min(occurred_at)::VARCHAR AS first, max(occurred_at)::VARCHAR AS last
       FROM read_parquet('${glob}')`,
    );
    expect(agg.n).toBe(String(evs.length));
    expect(agg.total).toBe(formatThousandths(sumThousandths(evs)));
    expect(agg.gtins).toBe(String(evs.filter((e) => e.gtin).length));
    expect(agg.docs).toBe(String(evs.filter((e) => e.references?.documentId).length));
    expect(agg.attrs).toBe(String(evs.filter((e) => e.attributes != null).length));
    expect(agg.first).toBe('2026-11-21 00:00:00+00');
    expect(agg.last).toBe('2026-11-23 10:59:00.999+00');

    const rows = await duck(
      `SET TimeZone = 'UTC'; SELECT event_id, quantity::VARCHAR AS q, strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS at, event_date::VARCHAR AS d,
              location_id, gtin, document_id, attributes::VARCHAR AS attrs, cardinality(attributes) AS nattrs
       FROM read_parquet('${glob}', hive_partitioning = true, hive_types = {'event_date': DATE}) ORDER BY event_id`,
    );
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    for (const e of evs) {
      const r = byId.get(e.eventId)!;
      expect(r.q).toBe(e.quantity);
      const us = e.occurredAt.length === 27 ? e.occurredAt.slice(0, 26) : `${e.occurredAt.slice(0, e.occurredAt.length === 20 ? 19 : 23)}${e.occurredAt.length === 20 ? '.000000' : '000'}`;
      expect(r.at).toBe(`${us}Z`);
      expect(r.d).toBe(e.occurredAt.slice(0, 10));
      expect(r.location_id).toBe(e.locationId);
      expect(r.gtin ?? null).toBe(e.gtin ?? null);
      expect(r.document_id ?? null).toBe(e.references?.documentId ?? null);
      if (e.attributes == null) expect(r.attrs ?? null).toBeNull();
      else expect(Number(r.nattrs)).toBe(Object.keys(e.attributes).length);
    }
    const [special] = await duck(`SELECT attributes['k=v/ü'] AS v FROM read_parquet('${glob}') WHERE event_id = '${event(5000).eventId}'`);
    expect(special.v).toBe('Grüße "x"');
  });

  it('annotates logical types and dictionary-encodes low-cardinality columns', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { partitionBy: [] });
    await Promise.all([sink.write(events(0, 5000), {}), sink.flush()]);
    const file = visible(dir)[0];
    const schema = await duck(`SELECT name, type, converted_type, logical_type::VARCHAR AS logical FROM parquet_schema('${join(dir, file)}')`);
    const col = (n: string) => schema.find((r) => r.name === n)!;
    expect(col('occurred_at').logical).toContain('isAdjustedToUTC=1');
    expect(col('occurred_at').logical).toContain('MICROS');
    expect(col('quantity')).toMatchObject({ type: 'INT64', converted_type: 'DECIMAL' });
    expect(col('event_date')).toMatchObject({ type: 'INT32', converted_type: 'DATE' });
    expect(col('sku')).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
    expect(col('attributes')).toMatchObject({ converted_type: 'MAP' });
    const meta = await duck(`SELECT path_in_schema AS p, encodings AS enc, compression AS c, stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata('${join(dir, file)}')`);
    const m = (p: string) => meta.find((r) => r.p === p)!;
    for (const p of ['event_type', 'sku', 'location_id', 'unit_of_measure', 'quantity', 'event_date']) expect(m(p).enc, p).toContain('RLE_DICTIONARY');
    expect(m('event_id').enc).not.toContain('RLE_DICTIONARY'); // unique: plain
    expect(m('sku').c).toBe('SNAPPY');
    expect(m('location_id')).toMatchObject({ lo: 'S0', hi: 'S3' });
    expect(m('event_date')).toMatchObject({ lo: '2026-11-21', hi: '2026-11-23' });
  });

  it('writes zstd and attributes as JSON text when asked', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { compression: 'zstd', attributes: 'json' });
    const evs = events(0, 300);
    await Promise.all([sink.write(evs, {}), sink.flush()]);
    const glob = `${dir}/**/*.parquet`;
    const meta = await duck(`SELECT DISTINCT compression AS c FROM parquet_metadata('${glob}')`);
    expect(meta).toEqual([{ c: 'ZSTD' }]);
    const rows = await duck(`SELECT event_id, attributes FROM read_parquet('${glob}')`);
    const byId = new Map(rows.map((r) => [r.event_id, r.attributes]));
    for (const e of evs) expect(byId.get(e.eventId) == null ? null : JSON.parse(byId.get(e.eventId) as string)).toEqual(e.attributes ?? null);
  });
});

describe('parquet sink: partitions and rolling', () => {
  it('lays out Hive partitions (escaped values, partition columns not in the files)', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { partitionBy: ['event_date', 'location_id'] });
    const evs = [...events(0, 400), event(900, { locationId: 'DC/01=x' })];
    await Promise.all([sink.write(evs, {}), sink.flush()]);
    const dirs = [...new Set(visible(dir).map((f) => f.split('/').slice(0, 2).join('/')))].sort();
    expect(dirs).toContain('event_date=2026-11-21/location_id=S0');
    expect(dirs).toContain('event_date=2026-11-21/location_id=DC%2F01%3Dx');
    expect(dirs).toHaveLength(13);
    const rows = await duck(`SELECT event_id, event_date::VARCHAR AS d, location_id FROM read_parquet('${dir}/**/*.parquet', hive_partitioning = true)`);
    expect(rows).toHaveLength(evs.length);
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    for (const e of evs) expect(byId.get(e.eventId)).toMatchObject({ d: e.occurredAt.slice(0, 10), location_id: e.locationId });
  });

  it('rolls files by rows and cuts row groups', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { partitionBy: [], rollRows: 1000, rowGroupSize: 300 });
    await Promise.all([sink.write(events(0, 1500), {}), sink.write(events(1500, 1000), {}), sink.flush()]);
    const files = visible(dir);
    const counts = await duck(`SELECT filename, count(*) AS n FROM read_parquet('${dir}/*.parquet', filename = true) GROUP BY ALL ORDER BY filename`);
    expect(counts.map((r) => Number(r.n))).toEqual([1000, 1000, 500]);
    expect(files).toHaveLength(3);
    const groups = await duck(`SELECT file_name, count(DISTINCT row_group_id) AS g FROM parquet_metadata('${dir}/*.parquet') GROUP BY ALL ORDER BY file_name`);
    expect(groups.map((r) => Number(r.g))).toEqual([4, 4, 2]); // 300+300+300+100, …, 300+200
  });

  it('rolls files by size', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { partitionBy: [], rollBytes: 64 * 1024, rowGroupSize: 1000 });
    for (let i = 0; i < 20; i++) void sink.write(events(i * 1000, 1000), {});
    await sink.flush();
    const files = visible(dir);
    expect(files.length).toBeGreaterThan(2);
    const [{ n }] = await duck(`SELECT count(*) AS n FROM read_parquet('${dir}/*.parquet')`);
    expect(n).toBe('20000');
  });

  it('publishes a file by age without any flush, and that acknowledges the write', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { rollSeconds: 0.2 });
    const t0 = performance.now();
    await sink.write(events(0, 10), {});
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    expect(visible(dir).length).toBeGreaterThan(0);
  });

  it('keeps at most maxOpenFiles open, publishing the oldest', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { partitionBy: ['location_id'], maxOpenFiles: 2 });
    const w = sink.write(events(0, 8), {}); // locations S0..S3, interleaved
    expect(sink.openFiles).toBe(2);
    await sink.flush();
    await w;
    expect(visible(dir)).toHaveLength(8); // every partition switch beyond two open files published one
  });
});

describe('parquet sink: acknowledgement and atomic publish', () => {
  it('resolves write() only once the file holding its events is published', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir);
    let done = false;
    const w = sink.write(events(0, 100), {}).then(() => (done = true));
    await sleep(100);
    expect(done).toBe(false);
    expect(visible(dir)).toEqual([]); // nothing a reader could pick up yet
    await sink.flush();
    await w;
    expect(done).toBe(true);
    expect(visible(dir)).toHaveLength(3);
    expect(readdirSync(join(dir, '_staging', 'test'))).toEqual([]);
  });

  it('cleans files an earlier run left in staging, and readers never list staging', async () => {
    const dir = lakeDir();
    mkdirSync(join(dir, '_staging', 'test'), { recursive: true });
    writeFileSync(join(dir, '_staging', 'test', '20261121T000000000Z-test-000001-deadbeef.parquet.inprogress'), 'PAR1partial');
    mkdirSync(join(dir, '_staging', 'other'), { recursive: true });
    writeFileSync(join(dir, '_staging', 'other', 'x.parquet.inprogress'), 'PAR1');
    const { sink } = await sinkAt(dir);
    expect(readdirSync(join(dir, '_staging', 'test'))).toEqual([]);
    expect(readdirSync(join(dir, '_staging', 'other'))).toHaveLength(1); // another pipeline's: not ours to remove
    await Promise.all([sink.write(events(0, 10), {}), sink.flush()]);
    const [{ n }] = await duck(`SELECT count(*) AS n FROM read_parquet('${dir}/**/*.parquet')`);
    expect(n).toBe('10');
  });

  it('commits source positions only after the files holding their events are published', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { partitionBy: [] });
    const source = new ScriptedSource(Array.from({ length: 20 }, (_, b) => ({ records: records(50, b * 50) })));
    const state: StateStore = openSqliteStore(lakeDir('sb-parquet-state-'), 'test');
    const rowsAtCommit: Array<[number, number]> = [];
    const commit = source.commit.bind(source);
    source.commit = async (positions: number[]) => {
      const published = sink.published.reduce((n, f) => n + f.rows, 0);
      rowsAtCommit.push([positions[positions.length - 1], published]);
      await commit(positions);
    };
    const engine = new Engine({
      pipeline: 'test',
      connector: 'scripted',
      source,
      mapping: testMapping(),
      processors: [],
      sinks: [{ name: 'lake', sink }],
      state,
      delivery: { ...DELIVERY_DEFAULTS, maxPendingBatches: 4, flushIdleMs: 50 },
      log: silentLog,
    });
    const summary = await engine.run();
    await state.close();
    expect(summary.status).toBe('ok');
    expect(source.committed).toEqual(Array.from({ length: 20 }, (_, i) => i));
    for (const [last, published] of rowsAtCommit) expect(published, `commit of batch ${last}`).toBeGreaterThanOrEqual((last + 1) * 50);
    const [{ n }] = await duck(`SELECT count(*) AS n FROM read_parquet('${dir}/*.parquet')`);
    expect(n).toBe('1000');
  });
});

describe('parquet sink: manifests and rejects', () => {
  it('writes a manifest per published file that matches the file', async () => {
    const dir = lakeDir();
    const { sink } = await sinkAt(dir, { manifest: true });
    const evs = events(0, 600);
    await Promise.all([sink.write(evs, {}), sink.flush()]);
    const files = visible(dir);
    expect(files).toHaveLength(3);
    let rows = 0;
    for (const f of files) {
      const m = JSON.parse(readFileSync(join(dir, '_manifests', `${f}.json`), 'utf8'));
      const bytes = readFileSync(join(dir, f));
      expect(m.file).toBe(f);
      expect(m.bytes).toBe(bytes.length);
      expect(m.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      const mine = evs.filter((e) => e.occurredAt.startsWith(m.partition.event_date));
      expect(m.rows).toBe(mine.length);
      expect(m.minOccurredAt.slice(0, 23)).toBe(mine.map((e) => e.occurredAt).sort()[0].slice(0, 23));
      expect(m.maxEventId).toBe(mine.map((e) => e.eventId).sort().at(-1));
      rows += m.rows;
    }
    expect(rows).toBe(600);
  });

  it('sends events with non-canonical values to the dead-letter store and writes the rest', async () => {
    const dir = lakeDir();
    const { sink, deadLetters } = await sinkAt(dir);
    const evs = [event(1), event(2, { quantity: '1.5' }), event(3, { occurredAt: '2026-02-30T00:00:00Z' }), event(4)];
    await Promise.all([sink.write(evs, {}), sink.flush()]);
    expect(deadLetters.map((d) => [d.stage, d.ref, d.error?.field])).toEqual([
      ['sink', 'r2', 'quantity'],
      ['sink', 'r3', 'occurredAt'],
    ]);
    const rows = await duck(`SELECT event_id FROM read_parquet('${dir}/**/*.parquet') ORDER BY 1`);
    expect(rows.map((r) => r.event_id)).toEqual([event(1).eventId, event(4).eventId]);
    expect(existsSync(join(dir, '_manifests'))).toBe(false);
  });
});
