/**
 * Mapping throughput: a compiled 10-field mapping with one lookup and one date parse (store-local wall clock ->
 * UTC), on pre-decoded records, one core; the same mapping written in JSONata beside it.
 *   ./node_modules/.bin/node bench/mapping.bench.ts [records=2000000]
 * Rates are per CPU-second of this process (process.cpuUsage), so other load on the machine does not count.
 * Target (mapping issue): >= 1,000,000 records/s without event-id hashing; eventId (SHA-1 UUIDv5) measured apart.
 * Every implementation's output is checked against ours on a sample before timing, so the comparison is like for like.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import jsonata from 'jsonata';
import { EventIdNamespace } from '../runtime/contracts/event-id.ts';
import type { InventoryEvent } from '../runtime/contracts/event.ts';
import type { MapContext } from '../runtime/contracts/mapping.ts';
import type { SourceRecord } from '../runtime/contracts/spi.ts';
import { compileMapping } from '../runtime/mapping/compile.ts';
import { machine, report } from './lib.ts';

const N = Number(process.argv[2] ?? 2_000_000);

/** CPU time of this process (user + system), in ms: the machine may be shared, wall time would measure the neighbours. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
const DISTINCT = 100_000;

// ---- data: store POS rows, 50 stores in 5 time zones -------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'sb-bench-mapping-'));
const zones = ['Europe/Paris', 'Europe/Brussels', 'Europe/Berlin', 'Europe/London', 'Europe/Lisbon'];
const storeRows = ['store,location_id,timezone'];
for (let i = 1; i <= 50; i++) storeRows.push(`S${String(i).padStart(3, '0')},LOC-${i},${zones[(i - 1) % 5]}`);
writeFileSync(join(dir, 'stores.csv'), `${storeRows.join('\n')}\n`);

const records: SourceRecord[] = [];
for (let k = 0; k < DISTINCT; k++) {
  const ret = k % 20 === 0;
  const d = new Date(Date.UTC(2026, 0, 1, 6) + k * 37_000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const value = {
    store: `S${String((k % 50) + 1).padStart(3, '0')}`,
    sku: `SKU${String((k * 7919) % 100_000).padStart(6, '0')}`,
    qty: String(ret ? -1 : (k % 3) + 1),
    type: ret ? 'RETURN' : 'SALE',
    date: `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}`,
    time: `${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}`,
    ticket: `T${k}`,
    line: String((k % 4) + 1),
    price: `${(k % 50) + 1}.99`,
  };
  // values as a decoder would produce them: flat strings, not ropes
  records.push(JSON.parse(JSON.stringify({ ref: `sales.csv:${k + 2}`, value })));
}

const MAPPING = `
mapping: bench
input: { format: csv }
source: { system: store-pos }
lookups:
  stores: { file: stores.csv, key: store, value: location_id }
event:
  eventType: if(type == 'RETURN', 'RETURN', 'SALE')
  sku: sku
  locationId: lookup(stores, store)
  locationType: "'STORE'"
  quantity: if(type == 'RETURN', qty, -qty)
  unitOfMeasure: "'EA'"
  occurredAt: parseDate(date & time, 'yyyyMMddHHmmss', lookup(stores, store, 'timezone'))
  references:
    documentId: ticket
    documentLine: line
  attributes:
    price: price
`;
// quantity: a RETURN row carries a negative count already (the generator's convention): keep its sign; sales negated

const ctx: MapContext = { receivedAt: '2026-01-06T00:00:00.000Z', connector: 'bench' };

async function ours(hash: boolean) {
  return compileMapping(MAPPING, { file: join(dir, 'bench.yaml'), hashEventIds: hash, namespace: 'bench' });
}

function runOurs(m: Awaited<ReturnType<typeof ours>>, n: number): number {
  const out: InventoryEvent[] = [];
  let sink = 0;
  const t0 = cpuMs();
  for (let i = 0; i < n; i++) {
    const r = records[i % DISTINCT];
    m.map(r, r.value, out, ctx);
    if (out.length >= 1000) {
      sink += out.length;
      out.length = 0;
    }
  }
  const s = (cpuMs() - t0) / 1000;
  if (sink + out.length !== n) throw new Error(`expected ${n} events, got ${sink + out.length}`);
  return n / s;
}

// ---- JSONata: the same mapping -----------------------------------------------------------------------------------
const storeLoc: Record<string, string> = {};
const storeZone: Record<string, string> = {};
for (let i = 1; i <= 50; i++) {
  const s = `S${String(i).padStart(3, '0')}`;
  storeLoc[s] = `LOC-${i}`;
  storeZone[s] = zones[(i - 1) % 5];
}
const JSONATA = `{
  "schemaVersion": 1,
  "eventType": type = 'RETURN' ? 'RETURN' : 'SALE',
  "sku": sku,
  "locationId": $lookup($locs, store),
  "locationType": 'STORE',
  "quantity": $formatNumber(type = 'RETURN' ? $number(qty) : -$number(qty), '0.000'),
  "unitOfMeasure": 'EA',
  "occurredAt": $zoned(date & time, $lookup($zones, store)),
  "references": { "documentId": ticket, "documentLine": line },
  "source": { "system": 'store-pos', "connector": $connector, "recordRef": $ref, "receivedAt": $receivedAt, "pipeline": null, "mapping": 'bench@1' },
  "attributes": { "price": price }
}`;
// JSONata has no IANA time zones: the wall-clock -> UTC step is a custom function, as a JSONata user would register
// one. To keep the comparison about the mapping engines and not about Intl, it caches the offset per zone and local
// hour like ours does (Intl only on a miss).
const dtfs = new Map<string, Intl.DateTimeFormat>();
const offsets = new Map<string, number>();
function zoned(text: string, zone: string): string {
  const local = Date.UTC(
    +text.slice(0, 4),
    +text.slice(4, 6) - 1,
    +text.slice(6, 8),
    +text.slice(8, 10),
    +text.slice(10, 12),
    +text.slice(12, 14),
  );
  const key = `${zone}|${text.slice(0, 10)}`;
  let o = offsets.get(key);
  if (o === undefined) {
    let dtf = dtfs.get(zone);
    if (!dtf) {
      dtf = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
      dtfs.set(zone, dtf);
    }
    const f = dtf;
    const off = (t: number) => {
      const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
      return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - t;
    };
    o = off(local - off(local)); // the offset at the instant the first guess gives (right outside DST changes)
    offsets.set(key, o);
  }
  return new Date(local - o).toISOString();
}
const expr = jsonata(JSONATA);
expr.registerFunction('zoned', zoned, '<ss:s>');

async function runJsonata(n: number, ns: EventIdNamespace | null): Promise<number> {
  const out: unknown[] = [];
  const bindings: Record<string, unknown> = {
    locs: storeLoc,
    zones: storeZone,
    connector: ctx.connector,
    receivedAt: ctx.receivedAt,
  };
  const t0 = cpuMs();
  for (let i = 0; i < n; i++) {
    const r = records[i % DISTINCT];
    bindings.ref = r.ref;
    const e = (await expr.evaluate(r.value, bindings)) as Record<string, unknown>;
    if (ns) e.eventId = ns.idOf(`${r.ref}\u001f0`);
    out.push(e);
    if (out.length >= 1000) out.length = 0;
  }
  return n / ((cpuMs() - t0) / 1000);
}

// ---- one variant per process ---------------------------------------------------------------------------------------
// Each measurement runs in its own process: two compiled mappings in one process share the closures' type feedback
// (as two mappings never do in a pipeline), and JSONata's warm-up must not tax ours.

type Variant = 'check' | 'ours' | 'ours+id' | 'jsonata' | 'jsonata+id' | 'hash';
const ROUNDS = 5;

async function measure(v: Variant): Promise<number[]> {
  if (v === 'check') {
    // our output and JSONata's agree on the compared fields
    const m = await ours(false);
    const sample: InventoryEvent[] = [];
    for (let i = 0; i < 2000; i++) m.map(records[i], records[i].value, sample, ctx);
    for (let i = 0; i < 2000; i++) {
      const b = (await expr.evaluate(records[i].value, {
        locs: storeLoc,
        zones: storeZone,
        connector: ctx.connector,
        receivedAt: ctx.receivedAt,
        ref: records[i].ref,
      })) as Record<string, unknown>;
      for (const k of ['eventType', 'sku', 'locationId', 'quantity', 'occurredAt'] as const)
        if (sample[i][k] !== b[k])
          throw new Error(`record ${i}: ${k} differs: ours ${sample[i][k]}, jsonata ${String(b[k])}`);
    }
    return [2000];
  }
  if (v === 'ours' || v === 'ours+id') {
    const m = await ours(v === 'ours+id');
    runOurs(m, 300_000); // warm-up
    return Array.from({ length: ROUNDS }, () => runOurs(m, v === 'ours' ? N : Math.max(1, N >> 2)));
  }
  if (v === 'jsonata' || v === 'jsonata+id') {
    const ns = v === 'jsonata+id' ? new EventIdNamespace('bench') : null;
    await runJsonata(20_000, ns);
    const out: number[] = [];
    for (let r = 0; r < 3; r++) out.push(await runJsonata(Math.min(N, 50_000), ns));
    return out;
  }
  // hashing alone: ns per id
  const ns = new EventIdNamespace('bench');
  let h = '';
  const out: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = cpuMs();
    for (let i = 0; i < 300_000; i++) h = ns.idOf(`sales.csv:${i}\u001f0`);
    out.push(((cpuMs() - t) * 1e6) / 300_000);
  }
  void h;
  return out;
}

const child = process.argv.indexOf('--variant');
if (child > 0) {
  const v = process.argv[child + 1] as Variant;
  process.stdout.write(`${JSON.stringify(await measure(v))}\n`);
} else {
  const run = (v: Variant): number[] => {
    const r = spawnSync(process.execPath, [import.meta.filename, String(N), '--variant', v], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${v}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  run('check');
  const env = `${machine()}, load average ${loadavg()[0].toFixed(1)} at the start`;
  const best = (xs: number[]) => Math.max(...xs);
  const noIds = run('ours');
  const withIds = run('ours+id');
  const jsonNo = run('jsonata');
  const jsonId = run('jsonata+id');
  const hash = run('hash');
  const o = best(noIds);
  const oi = best(withIds);
  const j = best(jsonNo);
  const ji = best(jsonId);
  const line = (c: string, xs: number[], extra: Record<string, unknown> = {}) =>
    report({
      bench: 'mapping',
      case: c,
      metric: 'records/s',
      value: Math.round(best(xs)),
      unit: 'records/s per CPU-second',
      rounds: xs.map(Math.round),
      env,
      ...extra,
    });
  line('stockbridge, no eventId', noIds, { target: '>= 1000000', ok: o >= 1_000_000 });
  line('stockbridge, with eventId', withIds);
  line('jsonata, no eventId', jsonNo);
  line('jsonata, with eventId', jsonId);
  report({
    bench: 'mapping',
    case: 'eventId hashing alone',
    metric: 'ns/id',
    value: Math.round(Math.min(...hash)),
    unit: 'ns',
  });
  report({
    bench: 'mapping',
    case: 'ratio stockbridge/jsonata',
    metric: 'x',
    value: Math.round((o / j) * 10) / 10,
    unit: 'x',
    withEventIds: Math.round((oi / ji) * 10) / 10,
  });
}
