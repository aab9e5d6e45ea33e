/**
 * Kafka sink → real broker → Kafka source, both clients: exact events back (Avro with fingerprint header, JSON),
 * lineage headers, keys and Java-compatible partitioning; unknown topic, authentication failure and oversized
 * events. Everything goes through the real broker of the harness.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { partitionFor, HEADERS } from '../../connectors/kafka/codec.ts';
import { decodeEvent } from '../../runtime/contracts/avro.ts';
import { CANONICAL_FINGERPRINT } from '../../runtime/formats/avro.ts';
import { createTopic, kafkaBrokers, newKafka, uniqueName } from '../harness/services.ts';
import { byId, normalize, readJsonl, run, tmp } from './kafka-support.ts';

const CLIENTS = ['platformatic', 'kafkajs'] as const;

interface Raw {
  partition: number;
  key: string | null;
  value: Buffer;
  headers: Record<string, Buffer>;
}

/** Reads a whole topic with a plain kafkajs consumer (independent of the connector under test). */
async function readTopic(topic: string, count: number): Promise<Raw[]> {
  const consumer = newKafka('raw-reader').consumer({ groupId: uniqueName('raw') });
  const out: Raw[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({
          partition,
          key: message.key?.toString() ?? null,
          value: message.value as Buffer,
          headers: message.headers as Record<string, Buffer>,
        });
        if (out.length >= count) resolve();
      },
    });
  });
  await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
  await consumer.disconnect();
  return out;
}

const brokers = () => JSON.stringify(kafkaBrokers());

describe.each(CLIENTS)('kafka round trip (%s)', (client) => {
  it('Avro + fingerprint header: exact events, lineage headers, sku keys, murmur2 partitions', async () => {
    const dir = tmp();
    const topic = await createTopic(uniqueName(`rt-avro-${client}`), 3);
    const N = 600;
    const s1 = await run(
      dir,
      'produce',
      `pipeline: kafka-rt-produce
source: {type: generator, count: ${N}, seed: 3}
mapping: identity
sinks:
  - type: kafka
    client: ${client}
    brokers: ${brokers()}
    topic: ${topic}
  - type: jsonl
    path: sent.jsonl
delivery: {batchSize: 100}
`,
    );
    expect(s1.status, s1.error).toBe('ok');
    const sent = readJsonl(join(dir, 'sent.jsonl'));
    expect(sent).toHaveLength(N);

    const raw = await readTopic(topic, N);
    expect(raw).toHaveLength(N);
    const sentById = byId(sent);
    for (const r of raw) {
      expect(r.headers[HEADERS.fingerprint]).toEqual(CANONICAL_FINGERPRINT);
      const e = decodeEvent(r.value);
      const orig = sentById.get(e.eventId)!;
      expect(orig).toBeDefined();
      expect(r.key).toBe(orig.sku);
      expect(r.partition).toBe(partitionFor(Buffer.from(orig.sku), 3));
      expect(r.headers[HEADERS.eventId].toString()).toBe(orig.eventId);
      expect(r.headers[HEADERS.eventType].toString()).toBe(orig.eventType);
      expect(r.headers[HEADERS.sourceSystem].toString()).toBe(orig.source.system);
      expect(r.headers[HEADERS.recordRef].toString()).toBe(orig.source.recordRef);
      expect(r.headers[HEADERS.pipeline].toString()).toBe('kafka-rt-produce');
      expect(r.headers[HEADERS.mapping].toString()).toBe(orig.source.mapping);
    }

    const s2 = await run(
      dir,
      'consume',
      `pipeline: kafka-rt-consume
source:
  type: kafka
  client: ${client}
  brokers: ${brokers()}
  topic: ${topic}
  valueFormat: avro
  onceIdleMs: 5000
mapping: identity
sinks:
  - type: jsonl
    path: received.jsonl
delivery: {batchSize: 100}
`,
    );
    expect(s2.status, s2.error).toBe('ok');
    const received = readJsonl(join(dir, 'received.jsonl'));
    expect(received).toHaveLength(N);
    const got = byId(received);
    for (const e of sent) expect(normalize(got.get(e.eventId)!)).toEqual(normalize(e));
  });

  it('JSON values, key locationId|sku, topics routed by event type', async () => {
    const dir = tmp();
    const sales = await createTopic(uniqueName(`rt-sales-${client}`), 2);
    const other = await createTopic(uniqueName(`rt-other-${client}`), 2);
    const N = 300;
    const s1 = await run(
      dir,
      'produce',
      `pipeline: kafka-rt-json
source: {type: generator, count: ${N}, seed: 5, returnRate: 0.3}
mapping: identity
sinks:
  - type: kafka
    client: ${client}
    brokers: ${brokers()}
    topics: {SALE: ${sales}, default: ${other}}
    key: locationId|sku
    format: json
    compression: gzip
  - type: jsonl
    path: sent.jsonl
`,
    );
    expect(s1.status, s1.error).toBe('ok');
    const sent = readJsonl(join(dir, 'sent.jsonl'));
    const nSales = sent.filter((e) => e.eventType === 'SALE').length;
    expect(nSales).toBeGreaterThan(0);
    expect(nSales).toBeLessThan(N);
    const rawSales = await readTopic(sales, nSales);
    expect(rawSales).toHaveLength(nSales);
    for (const r of rawSales) {
      const e = JSON.parse(r.value.toString());
      expect(e.eventType).toBe('SALE');
      expect(r.key).toBe(`${e.locationId}|${e.sku}`);
      expect(r.headers[HEADERS.contentType].toString()).toBe('application/json');
    }

    // Back through the source with the identity mapping's JSON-lines format.
    const s2 = await run(
      dir,
      'consume',
      `pipeline: kafka-rt-json-consume
source:
  type: kafka
  client: ${client}
  brokers: ${brokers()}
  topics: [${sales}, ${other}]
  onceIdleMs: 5000
mapping: identity
sinks:
  - type: jsonl
    path: received.jsonl
`,
    );
    expect(s2.status, s2.error).toBe('ok');
    const received = byId(readJsonl(join(dir, 'received.jsonl')));
    expect(received.size).toBe(N);
    for (const e of sent) expect(received.get(e.eventId)).toEqual(e);
  });
});

describe('kafka errors', () => {
  it('unknown topic: a clear error naming the topic, for the sink and the source', async () => {
    const dir = tmp();
    const topic = uniqueName('missing');
    await expect(
      run(dir, 'sink', `pipeline: p\nsource: {type: generator, count: 1}\nsinks:\n  - {type: kafka, brokers: ${brokers()}, topic: ${topic}}\n`),
    ).rejects.toThrow(new RegExp(`topic '${topic}' does not exist`));
    await expect(
      run(dir, 'source', `pipeline: p\nsource: {type: kafka, brokers: ${brokers()}, topic: ${topic}}\nsinks:\n  - {type: discard}\n`),
    ).rejects.toThrow(new RegExp(`topic '${topic}' does not exist`));
  });

  it('creates a missing topic with the requested partitions and configs', async () => {
    const dir = tmp();
    const topic = uniqueName('created');
    const s = await run(
      dir,
      'create',
      `pipeline: p
source: {type: generator, count: 10}
sinks:
  - type: kafka
    brokers: ${brokers()}
    topic: ${topic}
    createTopics: {partitions: 4, replicationFactor: 1, retentionMs: 86400000, cleanupPolicy: delete}
`,
    );
    expect(s.status, s.error).toBe('ok');
    const admin = newKafka().admin();
    await admin.connect();
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(md.topics[0].partitions).toHaveLength(4);
    const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic, configNames: ['retention.ms'] }] });
    expect(cfg.resources[0].configEntries.find((c) => c.configName === 'retention.ms')?.configValue).toBe('86400000');
    await admin.disconnect();
  });

  it.each(CLIENTS)('authentication failure is a clear error (%s: SASL against the broker)', async (client) => {
    const dir = tmp();
    const topic = await createTopic(uniqueName('auth'), 1);
    await expect(
      run(
        dir,
        'auth',
        `pipeline: p
source: {type: generator, count: 1}
sinks:
  - type: kafka
    client: ${client}
    brokers: ${brokers()}
    topic: ${topic}
    connectTimeoutMs: 3000
    requestTimeoutMs: 3000
    sasl: {mechanism: scram-sha-256, username: nobody, password: wrong}
`,
      ),
    ).rejects.toThrow(/kafka authentication failed/);
  });

  it('an event larger than max.message.bytes goes to the dead-letter store; the others are delivered', async () => {
    const dir = tmp();
    const topic = await createTopic(uniqueName('small'), 1, { configs: { 'max.message.bytes': '2000' } });
    const big = { system: 'x'.repeat(3000) };
    const lines = [0, 1, 2].map((i) =>
      JSON.stringify({
        eventType: 'SALE',
        eventId: `00000000-0000-5000-8000-00000000000${i}`,
        sku: `SKU${i}`,
        locationId: 'S1',
        quantity: '-1.000',
        unitOfMeasure: 'EA',
        occurredAt: '2026-11-21T10:00:00.000Z',
        source: i === 1 ? big : { system: 'pos' },
      }),
    );
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'in.jsonl'), `${lines.join('\n')}\n`);
    const yaml = (oversized: string) => `pipeline: p-${oversized}
source: {type: file, path: in.jsonl}
mapping: identity
sinks:
  - {type: kafka, brokers: ${brokers()}, topic: ${topic}, oversized: ${oversized}}
`;
    const s = await run(dir, 'dl', yaml('dead-letter'));
    expect(s.status, s.error).toBe('ok');
    const raw = await readTopic(topic, 2);
    expect(raw.map((r) => decodeEvent(r.value).sku).sort()).toEqual(['SKU0', 'SKU2']);
    const { openSqliteStore } = await import('../../runtime/state/sqlite-store.ts');
    const store = openSqliteStore(join(dir, 'state'), 'p-dead-letter');
    const dls = await store.listDeadLetters();
    await store.close();
    expect(dls).toHaveLength(1);
    expect(dls[0].reason).toMatch(/exceeds max.message.bytes 2000 of topic/);

    const f = await run(dir, 'fail', yaml('fail'));
    expect(f.status).toBe('failed');
    expect(f.error).toMatch(/message too large/);
  });

  it('dead letters also go to a Kafka topic, with reason and origin in headers (deadLetter.sink)', async () => {
    const dir = tmp();
    const events = await createTopic(uniqueName('dl-events'), 1);
    const rejects = await createTopic(uniqueName('dl-rejects'), 1);
    const good = JSON.stringify({
      eventType: 'SALE',
      eventId: '00000000-0000-5000-8000-000000000001',
      sku: 'SKU1',
      locationId: 'S1',
      quantity: '-1.000',
      unitOfMeasure: 'EA',
      occurredAt: '2026-11-21T10:00:00.000Z',
      source: { system: 'pos' },
    });
    const bad = '{"eventType":"SALE","sku":"SKU2","quantity":"lots"}';
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'in.jsonl'), `${good}\n${bad}\n`);
    const s = await run(
      dir,
      'dl',
      `pipeline: dl-to-kafka
source: {type: file, path: in.jsonl}
mapping: identity
sinks:
  - {type: kafka, brokers: ${brokers()}, topic: ${events}}
deadLetter:
  sink: {type: kafka, brokers: ${brokers()}, topic: ${rejects}}
`,
    );
    expect(s.status, s.error).toBe('ok');
    expect(s.recordsRejected).toBe(1);
    const raw = await readTopic(rejects, 1);
    expect(raw).toHaveLength(1);
    expect(raw[0].value.toString()).toBe(bad);
    expect(raw[0].key).toBe('in.jsonl:2');
    expect(raw[0].headers[HEADERS.dlqReason].toString()).toMatch(/eventId|quantity|must/);
    expect(raw[0].headers[HEADERS.dlqStage].toString()).toBe('validate');
    expect(raw[0].headers[HEADERS.dlqOrigin].toString()).toBe('dl-to-kafka');
    expect(raw[0].headers[HEADERS.dlqRef].toString()).toBe('in.jsonl:2');
  });
});
