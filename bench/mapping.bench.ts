/**
 * Mapping throughput: a compiled 10-field mapping with one lookup and one date parse (store-local wall clock ->
 * UTC), on pre-decoded records, one core; the same mapping written in JSONata beside it.
 *   ./node_modules/.bin/node bench/mapping.bench.ts [records=2000000]
 * Rates are per CPU-second of this process (process.cpuUsage), so other load on the machine does not count.
 * Target (mapping issue): >= 1,000,000 records/s without event-id hashing; eventId (SHA-1 UUIDv5) measured apart.
 * Every implementation's output is checked against ours on a sample before timing, so the comparison is like for like.
 */
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
// JSONata has no IANA time zones: the wall-clock -> UTC step uses Intl (a cached DateTimeFormat per zone), which is
// what a JSONata user would register as a custom function.
const dtfs = new Map<string, Intl.DateTimeFormat>();
function zoned(text: string, zone: string): string {
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
  const local = Date.UTC(
    +text.slice(0, 4),
    +text.slice(4, 6) - 1,
    +text.slice(6, 8),
    +text.slice(8, 10),
    +text.slice(10, 12),
    +text.slice(12, 14),
  );
  const off = (t: number) => {
    const p = Object.fromEntries(dtf.formatToParts(t).map((x) => [x.type, x.value]));
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - t;
  };
  let utc = local - off(local);
  const o2 = off(utc);
  if (local - o2 !== utc) utc = local - o2;
  return new Date(utc).toISOString();
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

// ---- correctness check on a sample, then timing ------------------------------------------------------------------
const mNo = await ours(false);
const mId = await ours(true);
{
  const sample: InventoryEvent[] = [];
  for (let i = 0; i < 2000; i++) mNo.map(records[i], records[i].value, sample, ctx);
  for (let i = 0; i < 2000; i++) {
    const a = sample[i];
    const b = (await expr.evaluate(records[i].value, {
      locs: storeLoc,
      zones: storeZone,
      connector: ctx.connector,
      receivedAt: ctx.receivedAt,
      ref: records[i].ref,
    })) as Record<string, unknown>;
    for (const k of ['eventType', 'sku', 'locationId', 'quantity', 'occurredAt'] as const) {
      const x = k === 'occurredAt' ? String(b[k]) : b[k];
      if (a[k] !== x) throw new Error(`record ${i}: ${k} differs: ours ${a[k]}, jsonata ${String(x)}`);
    }
  }
}

const best = (xs: number[]) => Math.max(...xs);
const rounds = 5;
runOurs(mNo, 300_000); // warm-up
runOurs(mId, 300_000);
const noIds: number[] = [];
const withIds: number[] = [];
for (let r = 0; r < rounds; r++) {
  noIds.push(runOurs(mNo, N));
  withIds.push(runOurs(mId, N));
}
const jN = Math.min(N, 50_000);
await runJsonata(20_000, null);
const jsonNo: number[] = [];
const jsonId: number[] = [];
for (let r = 0; r < 3; r++) {
  jsonNo.push(await runJsonata(jN, null));
  jsonId.push(await runJsonata(jN, new EventIdNamespace('bench')));
}
// hashing alone, for reference
const ns = new EventIdNamespace('bench');
const th = cpuMs();
let h = '';
for (let i = 0; i < 1_000_000; i++) h = ns.idOf(`sales.csv:${i}\u001f0`);
const hashNs = ((cpuMs() - th) * 1e6) / 1_000_000;
void h;

const env = `${machine()}, load average ${loadavg()[0].toFixed(1)} at the start`;
const o = best(noIds);
const oi = best(withIds);
const j = best(jsonNo);
const ji = best(jsonId);
report({
  bench: 'mapping',
  case: 'stockbridge, no eventId',
  metric: 'records/s',
  value: Math.round(o),
  unit: 'records/s',
  target: '>= 1000000',
  ok: o >= 1_000_000,
  rounds: noIds.map(Math.round),
  env,
});
report({
  bench: 'mapping',
  case: 'stockbridge, with eventId',
  metric: 'records/s',
  value: Math.round(oi),
  unit: 'records/s',
  rounds: withIds.map(Math.round),
  env,
});
report({
  bench: 'mapping',
  case: 'jsonata, no eventId',
  metric: 'records/s',
  value: Math.round(j),
  unit: 'records/s',
  rounds: jsonNo.map(Math.round),
  env,
});
report({
  bench: 'mapping',
  case: 'jsonata, with eventId',
  metric: 'records/s',
  value: Math.round(ji),
  unit: 'records/s',
  rounds: jsonId.map(Math.round),
  env,
});
report({ bench: 'mapping', case: 'eventId hashing alone', metric: 'ns/id', value: Math.round(hashNs), unit: 'ns' });
report({
  bench: 'mapping',
  case: 'ratio stockbridge/jsonata',
  metric: 'x',
  value: Math.round((o / j) * 10) / 10,
  unit: 'x',
  withEventIds: Math.round((oi / ji) * 10) / 10,
});
