/**
 * Kafka throughput against a real broker on this machine (issue #5):
 *   1. store CSV file → store-sales mapping → kafka sink (Avro, acks=all, idempotent producer), end to end, per client;
 *   2. Kafka's own ProducerPerformance (same jars as the broker) with the same record count and size: our ratio to it;
 *   3. kafka source → identity → discard sink (Avro values decoded), per client.
 *
 *   ./node_modules/.bin/node bench/kafka.bench.ts [events=500000]
 * Uses KAFKA_BROKERS when set, else starts a private broker with test/harness/kafka.sh and stops it at the end.
 * The source of case 1 is the `file` source with mappings/store-sales.yaml (a CSV store drop, one file).
 * Targets: ≥ 100,000 events/s produce end to end; ≥ 200,000 events/s consume. The machine is shared (2 cores,
 * broker included): figures vary with what else runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { builtinRegistry } from '../connectors/index.ts';
import { loadPipeline } from '../runtime/config/pipeline.ts';
import { preparePipeline } from '../runtime/engine/pipeline-runner.ts';
import { rootLogger, setLogLevel } from '../runtime/observability/log.ts';
import { machine, report, rssSampler } from './lib.ts';

setLogLevel('warn');
const EVENTS = Number(process.argv[2] ?? 500_000);
const ROOT = resolve(import.meta.dirname, '..');
const HARNESS = join(ROOT, 'test', 'harness');
const CLIENTS = ['platformatic', 'kafkajs'] as const;

let ownBroker: string | undefined;
let brokers = process.env.KAFKA_BROKERS;
if (!brokers) {
  ownBroker = `bench-${process.pid}-kafka`;
  execFileSync('bash', [join(HARNESS, 'kafka.sh'), 'start', ownBroker], { stdio: ['ignore', 'ignore', 'inherit'] });
  brokers = readFileSync(join(HARNESS, '.run', ownBroker, 'bootstrap'), 'utf8').trim();
}
const broker = brokers.split(',')[0];
const dir = mkdtempSync(join(tmpdir(), 'sb-bench-kafka-'));

function csv(n: number): string {
  const rows = ['store,sku,qty,type,date,time,ticket,line,price'];
  for (let i = 0; i < n; i++) {
    const store = `S${String((i % 50) + 1).padStart(3, '0')}`;
    const sku = `SKU${String((i * 7919) % 50_000).padStart(6, '0')}`;
    const ret = i % 20 === 0;
    const sec = i % 86_400;
    const time = `${String(Math.floor(sec / 3600)).padStart(2, '0')}${String(Math.floor(sec / 60) % 60).padStart(2, '0')}${String(sec % 60).padStart(2, '0')}`;
    rows.push(`${store},${sku},${(i % 3) + 1},${ret ? 'RETURN' : 'SALE'},20260105,${time},T${Math.floor(i / 4)},${(i % 4) + 1},${(i % 50) + 0.99}`);
  }
  return `${rows.join('\n')}\n`;
}

function createTopic(topic: string, partitions: number): void {
  const libs = execFileSync('bash', [join(HARNESS, 'kafka', 'resolve.sh')], { encoding: 'utf8' }).trim();
  execFileSync(
    'java',
    ['-Xmx256m', '-cp', `${libs}/*`, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', broker, '--create', '--topic', topic, '--partitions', String(partitions), '--replication-factor', '1'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

async function runPipeline(name: string, yaml: string): Promise<{ secs: number; events: number; peak: number }> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  const cfg = loadPipeline(file, builtinRegistry());
  const p = await preparePipeline(cfg, { once: true, stateDir: join(dir, `state-${name}`), log: rootLogger() });
  const rss = rssSampler();
  const t0 = performance.now();
  const s = await p.engine.run();
  const secs = (performance.now() - t0) / 1000;
  const peak = rss.stop();
  await p.close();
  if (s.status !== 'ok') throw new Error(`${name}: ${s.status} ${s.error ?? ''}`);
  return { secs, events: s.eventsOut, peak };
}

const input = join(dir, 'store-sales-bench.csv');
writeFileSync(input, csv(EVENTS));
const mapping = join(ROOT, 'mappings', 'store-sales.yaml');
const topics: Record<string, string> = {};
const produceRates = new Map<string, number>();
let valueBytes = 0;

try {
  const variants = [
    { client: 'platformatic', headers: 'full' },
    { client: 'kafkajs', headers: 'full' },
    { client: 'platformatic', headers: 'minimal' },
  ] as const;
  for (const { client, headers } of variants) {
    const topic = `bench.${client}.${headers}.${process.pid}`;
    if (headers === 'full') topics[client] = topic;
    createTopic(topic, 6);
    const r = await runPipeline(
      `produce-${client}-${headers}`,
      `pipeline: bench-produce-${client}-${headers}
source:
  type: file
  path: ${input}
mapping: ${mapping}
sinks:
  - type: kafka
    client: ${client}
    brokers: ["${broker}"]
    topic: ${topic}
    format: avro
    lineageHeaders: ${headers}
delivery:
  batchSize: 5000
`,
    );
    if (r.events !== EVENTS) throw new Error(`produce ${client}/${headers}: ${r.events} events out of ${EVENTS}`);
    const rate = Math.round(r.events / r.secs);
    produceRates.set(`${client}, ${headers} headers`, rate);
    report({
      bench: 'kafka',
      case: `store CSV → Kafka (Avro, acks=all, idempotent), ${client}, ${headers} lineage headers, ${EVENTS.toLocaleString('en-US')} events, 6 partitions`,
      metric: 'throughput',
      value: rate,
      unit: 'events/s',
      target: '≥ 100,000',
      ok: rate >= 100_000,
      client,
      headers,
      peakRssMb: r.peak,
      machine: machine(),
      loadAverage: loadavg()[0],
    });
  }

  // Average record value size, for ProducerPerformance.
  {
    const { encodeEvent } = await import('../runtime/contracts/avro.ts');
    const sample = JSON.parse(
      '{"schemaVersion":1,"eventId":"6f1d3c1e-8a52-5d0e-9b7a-3f1f4c2a9e10","eventType":"SALE","sku":"SKU012345","gtin":null,"locationId":"FR-STORE-0001","locationType":"STORE","quantity":"-2.000","unitOfMeasure":"EA","occurredAt":"2026-01-05T08:15:02.000Z","references":{"documentId":"T1001","documentLine":"1"},"source":{"system":"store-pos","connector":"file","recordRef":"store-sales-bench.csv:17","receivedAt":"2026-11-21T10:00:00.000Z","pipeline":"bench-produce","mapping":"store-sales@1"},"attributes":{"price":"12.99"}}',
    );
    valueBytes = encodeEvent(sample).length;
  }

  // Kafka's own producer, same broker, same count and value size, acks=all + idempotence.
  {
    const libs = execFileSync('bash', [join(HARNESS, 'kafka', 'resolve.sh')], { encoding: 'utf8' }).trim();
    const topic = `bench.java.${process.pid}`;
    createTopic(topic, 6);
    const out = spawnSync(
      'java',
      [
        '-Xmx512m',
        '-cp',
        `${libs}/*`,
        'org.apache.kafka.tools.ProducerPerformance',
        '--topic',
        topic,
        '--num-records',
        String(EVENTS),
        '--record-size',
        String(valueBytes),
        '--throughput',
        '-1',
        '--producer-props',
        `bootstrap.servers=${broker}`,
        'acks=all',
        'enable.idempotence=true',
      ],
      { encoding: 'utf8' },
    );
    const m = /([\d.]+) records\/sec/.exec(out.stdout.trim().split('\n').pop() ?? '');
    if (!m) throw new Error(`ProducerPerformance failed:\n${out.stdout}\n${out.stderr}`);
    const java = Math.round(Number(m[1]));
    report({
      bench: 'kafka',
      case: `Kafka ProducerPerformance (Java client), ${EVENTS.toLocaleString('en-US')} records of ${valueBytes} bytes, acks=all, idempotent`,
      metric: 'throughput',
      value: java,
      unit: 'records/s',
      machine: machine(),
      loadAverage: loadavg()[0],
    });
    for (const [name, rate] of produceRates)
      report({
        bench: 'kafka',
        case: `ratio to Kafka ProducerPerformance: ${name}`,
        metric: 'ratio',
        value: Math.round((rate / java) * 100) / 100,
        unit: '×',
        ours: rate,
        java,
        machine: machine(),
      });
  }

  for (const client of CLIENTS) {
    const r = await runPipeline(
      `consume-${client}`,
      `pipeline: bench-consume-${client}
source:
  type: kafka
  client: ${client}
  brokers: ["${broker}"]
  topic: ${topics[client]}
  groupId: bench-consume-${client}-${process.pid}
  valueFormat: avro
  onceIdleMs: 3000
mapping: identity
sinks:
  - type: discard
delivery:
  batchSize: 5000
`,
    );
    if (r.events !== EVENTS) throw new Error(`consume ${client}: ${r.events} events out of ${EVENTS}`);
    const rate = Math.round(r.events / r.secs);
    report({
      bench: 'kafka',
      case: `Kafka → identity (Avro decode) → discard, ${client}, ${EVENTS.toLocaleString('en-US')} events`,
      metric: 'throughput',
      value: rate,
      unit: 'events/s',
      target: '≥ 200,000',
      ok: rate >= 200_000,
      client,
      peakRssMb: r.peak,
      machine: machine(),
      loadAverage: loadavg()[0],
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  if (ownBroker) execFileSync('bash', [join(HARNESS, 'kafka.sh'), 'clean', ownBroker], { stdio: ['ignore', 'ignore', 'inherit'] });
}
