/**
 * Copybook decode + map, and the ibm-mq source through the MQI test double.
 *   ./node_modules/.bin/node bench/copybook.bench.ts [records=2000000] [messages=300000]
 * Targets (issue #7): copybook decode + map of 27-byte packed records ≥ 500,000 records/s on one core; through the
 * MQI double ≥ 50,000 messages/s with batch commits of 500.
 *
 * Records are synthetic store-sales records (mappings/copybooks/store-sales.cpy: PIC X(8) + five COMP-3 fields)
 * mapped by mappings/mainframe-store-sales.yaml (lookups, exact decimals, a time-zone date per record).
 * `value` is per CPU-second of this process (user + system: one core's worth of work, robust on a shared machine);
 * `wallRate` is the wall-clock rate.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createIbmMqSource } from '../connectors/ibm-mq/index.ts';
import type { MqiModule } from '../connectors/ibm-mq/mqi.ts';
import { DELIVERY_DEFAULTS } from '../runtime/config/pipeline-schema.ts';
import type { InventoryEvent } from '../runtime/contracts/event.ts';
import { type CompiledMapping, MAPPED, type MapContext } from '../runtime/contracts/mapping.ts';
import type { Logger, Sink, SourceContext, SourceRecord } from '../runtime/contracts/spi.ts';
import { Engine } from '../runtime/engine/engine.ts';
import { loadMapping } from '../runtime/mapping/compile.ts';
import { openSqliteStore } from '../runtime/state/sqlite-store.ts';
import { QueueManagerDouble } from '../test/doubles/mqi-double.ts';
import { packed, pic } from '../test/unit/copybook/fixtures.ts';
import { machine, report, rssSampler } from './lib.ts';

const RECORDS = Number(process.argv[2] ?? 2_000_000);
const MESSAGES = Number(process.argv[3] ?? 300_000);
const MAPPING = resolve(import.meta.dirname, '../mappings/mainframe-store-sales.yaml');

/** CPU seconds (user + system) of this process since `from`: rates per CPU-second hold on a shared machine. */
function cpuSeconds(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };

function record(i: number): Buffer {
  const qty = i % 7 === 3 ? -((i % 5) + 1) : (i % 9) + 1;
  return Buffer.concat([pic(String(40000000 + (i % 50000)), 8), packed(i % 2 ? 20 : 59, 3), packed(1240101 + (i % 28), 7), packed(100 + (i % 900), 3), packed(qty, 9), packed(qty * 199, 11)]);
}

const mapping = await loadMapping(MAPPING, { namespace: 'bench' });
const distinct = Array.from({ length: 1000 }, (_, i) => record(i));

// ---- 1. decode + map, one core ---------------------------------------------------------------------------------
{
  const data = Buffer.concat(Array.from({ length: RECORDS }, (_, i) => distinct[i % distinct.length]));
  const chunk = 256 * 1024;
  const ctx: MapContext = { receivedAt: new Date().toISOString(), connector: 'bench' };
  const meta = Object.freeze({ file: 'bench.bin' });
  const pass = (withMap: boolean) => {
    const d = mapping.format.streamDecoder({ file: 'bench.bin', offset: 0, line: 1 });
    let out: InventoryEvent[] = [];
    let n = 0;
    let events = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let o = 0; o < data.length; o += chunk) {
      for (const r of d.push(data.subarray(o, Math.min(data.length, o + chunk)))) {
        n++;
        if (r.error) throw new Error(r.error.reason);
        if (withMap) {
          const rec: SourceRecord = { ref: `bench.bin@${r.offset}`, value: r.value, payload: r.raw, meta };
          const outcome = mapping.map(rec, r.value, out, ctx);
          if (typeof outcome === 'object') throw new Error(outcome.reason);
          if (out.length >= 1000) {
            events += out.length;
            out = [];
          }
        }
      }
    }
    d.end();
    events += out.length;
    const secs = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(c0);
    return { n, events, secs, cpu };
  };
  pass(true); // warm-up (JIT)
  for (const withMap of [false, true]) {
    const rss = rssSampler();
    const { n, events, secs, cpu } = pass(withMap);
    const rate = Math.round(n / cpu);
    report({
      bench: 'copybook',
      case: withMap ? 'decode+map (27-byte packed records, mainframe-store-sales mapping)' : 'decode only (27-byte packed records)',
      metric: 'records/s',
      value: rate,
      unit: 'records/s',
      target: withMap ? '>= 500000' : undefined,
      ok: withMap ? rate >= 500_000 : undefined,
      records: n,
      events: withMap ? events : undefined,
      wallRate: Math.round(n / secs),
      seconds: Number(secs.toFixed(2)),
      cpuSeconds: Number(cpu.toFixed(2)),
      peakRssMb: rss.stop(),
      machine: machine(),
    });
  }
}

// ---- 2. through the MQI test double: MQGET under syncpoint, batches of 500, MQCMIT after the sink acked ------------
{
  class NullSink implements Sink {
    events = 0;
    async write(e: readonly InventoryEvent[]) {
      this.events += e.length;
    }
    async flush() {}
    async close() {}
  }
  /** A hand-written map (no event-id hashing, no date parsing) isolating the source, the double, decode and engine. */
  const plainMapping: CompiledMapping = {
    id: 'plain@1',
    name: 'plain',
    version: '1',
    format: mapping.format,
    map(rec, value, out, ctx) {
      const v = value as Record<string, string>;
      out.push({
        schemaVersion: 1,
        eventId: rec.ref,
        eventType: v.qty_sold.startsWith('-') ? 'RETURN' : 'SALE',
        sku: v.keycode_no,
        locationId: v.store_no,
        quantity: v.qty_sold,
        unitOfMeasure: 'EA',
        occurredAt: '2024-01-18T00:00:00.000Z',
        source: { system: 'mf', connector: ctx.connector, recordRef: rec.ref, receivedAt: ctx.receivedAt },
      } as unknown as InventoryEvent);
      return MAPPED;
    },
  };
  const run = async (n: number, m: CompiledMapping = mapping) => {
    const qm = new QueueManagerDouble('QM1');
    qm.defineQueue('IN', { backoutThreshold: 3, backoutQueue: 'IN.BOQ' });
    qm.defineQueue('IN.BOQ');
    for (let i = 0; i < n; i++) qm.put('IN', distinct[i % distinct.length]);
    const dir = mkdtempSync(join(tmpdir(), 'sb-bench-mq-'));
    const state = openSqliteStore(dir, 'bench');
    const controller = new AbortController();
    const ctx: SourceContext = {
      pipeline: 'bench',
      signal: controller.signal,
      once: true,
      batchSize: 500,
      format: mapping.format,
      state,
      log: quiet,
      deadLetter: (e) => state.addDeadLetters([e]),
      unitCounts: () => undefined,
    };
    const source = await createIbmMqSource(
      {
        transport: 'mqi',
        queueManager: 'QM1',
        queue: 'IN',
        batchSize: 500,
        waitInterval: 50,
        bufferBytes: 4096,
        maxMessageBytes: 1 << 20,
        convert: 'auto',
        backout: {},
        reconnect: { initialDelayMs: 10, maxDelayMs: 100, maxAttempts: 3 },
      },
      ctx,
      { mqi: qm.module as unknown as MqiModule },
    );
    const sink = new NullSink();
    const engine = new Engine({
      pipeline: 'bench',
      connector: 'ibm-mq',
      source,
      mapping: m,
      processors: [],
      sinks: [{ name: 'null', sink }],
      state,
      delivery: { ...DELIVERY_DEFAULTS, batchSize: 500 },
      log: quiet,
      stopController: controller,
    });
    const rss = rssSampler();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const s = await engine.run();
    const secs = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(c0);
    await source.close();
    await state.close();
    if (s.recordsMapped !== n || qm.depth('IN') !== 0 || qm.uncommitted() !== 0) throw new Error(`lost messages: ${JSON.stringify(s)}`);
    return { secs, cpu, commits: qm.stats.commits, peak: rss.stop(), events: sink.events };
  };
  await run(20_000); // warm-up
  {
    const { secs, cpu, commits, peak } = await run(MESSAGES, plainMapping);
    const rate = Math.round(MESSAGES / cpu);
    report({
      bench: 'copybook',
      case: 'ibm-mq source through the MQI test double (batches of 500, MQCMIT after ack) + decode + hand-written map',
      metric: 'messages/s',
      value: rate,
      unit: 'messages/s',
      target: '>= 50000',
      ok: rate >= 50_000,
      messages: MESSAGES,
      commits,
      wallRate: Math.round(MESSAGES / secs),
      seconds: Number(secs.toFixed(2)),
      cpuSeconds: Number(cpu.toFixed(2)),
      peakRssMb: peak,
      machine: machine(),
    });
  }
  const { secs, cpu, commits, peak, events } = await run(MESSAGES);
  const rate = Math.round(MESSAGES / cpu);
  report({
    bench: 'copybook',
    case: 'ibm-mq source through the MQI test double (MQGET syncpoint, batches of 500, MQCMIT after ack) + decode + mainframe-store-sales mapping',
    metric: 'messages/s',
    value: rate,
    unit: 'messages/s',
    target: '>= 50000',
    ok: rate >= 50_000,
    messages: MESSAGES,
    commits,
    events,
    wallRate: Math.round(MESSAGES / secs),
    seconds: Number(secs.toFixed(2)),
    cpuSeconds: Number(cpu.toFixed(2)),
    peakRssMb: peak,
    machine: machine(),
  });
}
