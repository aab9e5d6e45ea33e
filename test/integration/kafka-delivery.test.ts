/**
 * Delivery guarantees against the real broker: offsets are committed only after the sinks acknowledged (a failed
 * pipeline re-delivers exactly what was not acknowledged, with the same event ids); two members of one group split
 * the partitions and lose nothing across the rebalance; the broker stopped mid-run and restarted: the pipeline
 * waits, resumes and loses nothing.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeEvent } from '../../runtime/contracts/avro.ts';
import { createTopic, kafkaBrokers, newKafka, startKafka, stopKafka, uniqueName } from '../harness/services.ts';
import { prepare, readJsonl, run, testSinks, tmp, waitFor } from './kafka-support.ts';

const brokers = () => JSON.stringify(kafkaBrokers());

async function produce(dir: string, topic: string, count: number, seed: number): Promise<string[]> {
  const s = await run(
    dir,
    `produce-${seed}`,
    `pipeline: produce-${seed}
source: {type: generator, count: ${count}, seed: ${seed}}
mapping: identity
sinks:
  - {type: kafka, brokers: ${brokers()}, topic: ${topic}}
  - {type: jsonl, path: produced-${seed}.jsonl, fsync: false}
`,
  );
  expect(s.status, s.error).toBe('ok');
  return readJsonl(join(dir, `produced-${seed}.jsonl`)).map((e) => e.eventId);
}

async function committedTotal(group: string, topic: string): Promise<number> {
  const admin = newKafka().admin();
  await admin.connect();
  const res = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  await admin.disconnect();
  return res[0].partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

async function topicIds(topic: string): Promise<string[]> {
  const consumer = newKafka('reader').consumer({ groupId: uniqueName('reader') });
  const admin = newKafka().admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = ends.reduce((n, p) => n + Number(p.high), 0);
  const ids: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    if (total === 0) resolve();
    void consumer.run({
      eachMessage: async ({ message }) => {
        ids.push(decodeEvent(message.value as Buffer).eventId);
        if (ids.length >= total) resolve();
      },
    });
  });
  await consumer.disconnect();
  return ids;
}

describe.each(['platformatic', 'kafkajs'] as const)('kafka delivery (%s)', (client) => {
  it('commits only acknowledged batches; a failed run is re-delivered with the same event ids', async () => {
    const dir = tmp();
    const topic = await createTopic(uniqueName(`ack-${client}`), 2);
    const all = await produce(dir, topic, 1000, 11);
    const group = uniqueName('g-ack');
    testSinks.reset();
    const src = `  type: kafka
  client: ${client}
  brokers: ${brokers()}
  topic: ${topic}
  groupId: ${group}
  valueFormat: avro
  onceIdleMs: 4000`;
    const failed = await run(
      dir,
      'fail',
      `pipeline: ack-fail
source:
${src}
mapping: identity
sinks:
  - {type: test-fail-after, ackBatches: 3, delayMs: 20}
delivery: {batchSize: 100, maxPendingBatches: 4}
`,
    );
    expect(failed.status).toBe('failed');
    const acked = testSinks.acked.flat().map((e) => e.eventId);
    expect(acked.length).toBeLessThanOrEqual(300);
    const committed = await committedTotal(group, topic);
    // Nothing committed past an unacknowledged record.
    expect(committed).toBeLessThanOrEqual(acked.length);

    const ok = await run(
      dir,
      'resume',
      `pipeline: ack-resume
source:
${src}
mapping: identity
sinks:
  - {type: jsonl, path: resumed.jsonl}
delivery: {batchSize: 100}
`,
    );
    expect(ok.status, ok.error).toBe('ok');
    const resumed = readJsonl(join(dir, 'resumed.jsonl')).map((e) => e.eventId);
    expect(resumed).toHaveLength(1000 - committed);
    expect(new Set([...acked, ...resumed])).toEqual(new Set(all));
    expect(await committedTotal(group, topic)).toBe(1000);
  });

  it('two members of one group: partitions split, rebalance loses nothing', async () => {
    const dir = tmp();
    const topic = await createTopic(uniqueName(`rebalance-${client}`), 4);
    const group = uniqueName('g-rb');
    const first = await produce(dir, topic, 800, 21);
    const yaml = (name: string) => `pipeline: rb-${name}
source:
  type: kafka
  client: ${client}
  brokers: ${brokers()}
  topic: ${topic}
  groupId: ${group}
  valueFormat: avro
  sessionTimeoutMs: 10000
  heartbeatIntervalMs: 500
  rebalanceTimeoutMs: 10000
mapping: identity
sinks:
  - {type: jsonl, path: ${name}.jsonl}
delivery: {batchSize: 50}
`;
    const a = await prepare(dir, 'a', yaml('a'), false);
    const runA = a.engine.run();
    await waitFor(() => readJsonl(join(dir, 'a.jsonl')).length >= 800, 60_000, 'member a to read the first 800');
    const b = await prepare(dir, 'b', yaml('b'), false);
    const runB = b.engine.run();
    // Let the group rebalance to two members, then produce more.
    await new Promise((r) => setTimeout(r, 6000));
    const second = await produce(dir, topic, 800, 22);
    const expected = new Set([...first, ...second]);
    const union = () => new Set([...readJsonl(join(dir, 'a.jsonl')), ...readJsonl(join(dir, 'b.jsonl'))].map((e) => e.eventId));
    await waitFor(() => union().size >= expected.size, 90_000, 'both members to deliver everything');
    a.engine.stop();
    b.engine.stop();
    const [sa, sb] = await Promise.all([runA, runB]);
    await a.close();
    await b.close();
    expect(sa.status, sa.error).toBe('stopped');
    expect(sb.status, sb.error).toBe('stopped');
    expect(union()).toEqual(expected);
    const secondSet = new Set(second);
    const aSecond = readJsonl(join(dir, 'a.jsonl')).filter((e) => secondSet.has(e.eventId)).length;
    const bSecond = readJsonl(join(dir, 'b.jsonl')).filter((e) => secondSet.has(e.eventId)).length;
    // After the rebalance each member owns some partitions.
    expect(aSecond).toBeGreaterThan(0);
    expect(bSecond).toBeGreaterThan(0);
  });
});

describe('kafka broker outage', () => {
  it.each(['platformatic', 'kafkajs'] as const)(
    'broker stopped mid-run and restarted: the sink waits, resumes and loses nothing (%s)',
    async (client) => {
      const dir = tmp();
      const topic = await createTopic(uniqueName(`outage-${client}`), 2);
      const p = await prepare(
        dir,
        'outage',
        `pipeline: outage-${client}
source: {type: generator, count: 3000, rate: 500, seed: 31}
mapping: identity
sinks:
  - type: kafka
    client: ${client}
    brokers: ${brokers()}
    topic: ${topic}
    connectTimeoutMs: 2000
    requestTimeoutMs: 5000
  - {type: jsonl, path: sent.jsonl, fsync: false}
delivery:
  batchSize: 100
  maxPendingBatches: 8
  retry: {initialDelayMs: 200, maxDelayMs: 2000}
`,
      );
      const running = p.engine.run();
      await waitFor(() => p.engine.counts().recordsIn >= 600, 60_000, 'the pipeline to start producing');
      await stopKafka();
      const inAtStop = p.engine.counts().recordsIn;
      await new Promise((r) => setTimeout(r, 4000));
      // Reading stopped at the pending bound while the broker was away.
      expect(p.engine.counts().recordsIn - inAtStop).toBeLessThanOrEqual(8 * 100 + 100);
      await startKafka();
      const s = await running;
      await p.close();
      expect(s.status, s.error).toBe('ok');
      expect(s.eventsOut).toBe(3000);
      const sent = new Set(readJsonl(join(dir, 'sent.jsonl')).map((e) => e.eventId));
      expect(sent.size).toBe(3000);
      const inKafka = await topicIds(topic);
      expect(new Set(inKafka)).toEqual(sent);
    },
    240_000,
  );

  it.each(['platformatic', 'kafkajs'] as const)(
    'broker stopped and restarted under a running source: it reconnects, reads on and commits (%s)',
    async (client) => {
      const dir = tmp();
      const topic = await createTopic(uniqueName(`outage-src-${client}`), 2);
      const group = uniqueName('g-outage');
      const first = await produce(dir, topic, 500, 41);
      const p = await prepare(
        dir,
        'consume',
        `pipeline: outage-src-${client}
source:
  type: kafka
  client: ${client}
  brokers: ${brokers()}
  topic: ${topic}
  groupId: ${group}
  valueFormat: avro
  connectTimeoutMs: 2000
  requestTimeoutMs: 5000
  sessionTimeoutMs: 10000
  heartbeatIntervalMs: 1000
mapping: identity
sinks:
  - {type: jsonl, path: got.jsonl}
delivery: {batchSize: 100}
`,
        false,
      );
      const running = p.engine.run();
      const got = () => new Set(readJsonl(join(dir, 'got.jsonl')).map((e) => e.eventId));
      await waitFor(() => got().size >= 500, 60_000, 'the first 500 events');
      await stopKafka();
      await new Promise((r) => setTimeout(r, 4000));
      await startKafka();
      const second = await produce(dir, topic, 500, 42);
      await waitFor(() => got().size >= 1000, 120_000, 'the events produced after the restart');
      expect(got()).toEqual(new Set([...first, ...second]));
      await waitFor(async () => (await committedTotal(group, topic)) === 1000, 60_000, 'offsets committed after the restart');
      p.engine.stop();
      const s = await running;
      await p.close();
      expect(s.status, s.error).toBe('stopped');
    },
    300_000,
  );
});

describe('kafka start positions', () => {
  it('startFrom latest / a timestamp for new groups, and resetOffsets replays', async () => {
    const dir = tmp();
    const topic = await createTopic(uniqueName('start'), 2);
    const first = await produce(dir, topic, 200, 51);
    await new Promise((r) => setTimeout(r, 1500));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1500));
    const second = await produce(dir, topic, 200, 52);
    const consume = async (name: string, extra: string) => {
      const s = await run(
        dir,
        name,
        `pipeline: start-${name}
source:
  type: kafka
  brokers: ${brokers()}
  topic: ${topic}
  groupId: ${name}-${topic}
  valueFormat: avro
  onceIdleMs: 3000
${extra}
mapping: identity
sinks:
  - {type: jsonl, path: ${name}.jsonl}
`,
      );
      expect(s.status, s.error).toBe('ok');
      return readJsonl(join(dir, `${name}.jsonl`)).map((e) => e.eventId);
    };
    expect(await consume('latest', '  startFrom: latest')).toEqual([]);
    expect(new Set(await consume('ts', `  startFrom: "${between}"`))).toEqual(new Set(second));
    const all = await consume('replay', '  startFrom: earliest');
    expect(new Set(all)).toEqual(new Set([...first, ...second]));
    // Same group again: nothing new; with resetOffsets to the timestamp: the second half again.
    expect(await consume('replay', '  startFrom: earliest')).toHaveLength(400);
    const { rmSync } = await import('node:fs');
    rmSync(join(dir, 'replay.jsonl'));
    expect(await consume('replay', '  startFrom: earliest')).toEqual([]);
    expect(new Set(await consume('replay', `  startFrom: "${between}"\n  resetOffsets: true`))).toEqual(new Set(second));
  });
});

