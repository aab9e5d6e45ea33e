// Proves the real-service harness: a real Kafka broker (KRaft) and a real redis-server, started by
// test/harness/global-setup.ts. Everything here talks to those processes; nothing is mocked.
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { afterAll, describe, expect, inject, test } from 'vitest';
import {
  createTopic,
  isKafkaRunning,
  kafkaBrokers,
  newKafka,
  redisUrl,
  startKafka,
  stopKafka,
  uniqueName,
} from '../harness/services.ts';

type Received = { partition: number; offset: string; key: string | null; value: string | null };

/** Consumes `topic` from the beginning with a fresh group until `count` messages arrived (or `timeoutMs` passed). */
async function consumeN(kafka: Kafka, topic: string, count: number, timeoutMs = 30_000): Promise<Received[]> {
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('harness-group'), maxWaitTimeInMs: 200 });
  const got: Received[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`got ${got.length}/${count} messages from ${topic} in ${timeoutMs}ms`)),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            got.push({
              partition,
              offset: message.offset,
              key: message.key?.toString() ?? null,
              value: message.value?.toString() ?? null,
            });
            if (got.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

function tcpRefused(hostPort: string): Promise<boolean> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('harness wiring', () => {
  test('global setup exported the service addresses (env and provide/inject agree)', () => {
    const brokers = kafkaBrokers();
    expect(brokers.length).toBe(1);
    expect(brokers[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(redisUrl()).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(inject('kafkaBrokers')).toBe(process.env.KAFKA_BROKERS);
    expect(inject('redisUrl')).toBe(process.env.REDIS_URL);
  });

  test('uniqueName gives distinct, topic-safe names', () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueName('a topic/with:odd chars')));
    expect(names.size).toBe(100);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});

describe('real Kafka broker', () => {
  const kafka = newKafka('harness-test');
  const producers: Producer[] = [];
  afterAll(async () => {
    await Promise.all(producers.map((p) => p.disconnect().catch(() => {})));
  });
  async function producer(opts: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> {
    const p = kafka.producer({ allowAutoTopicCreation: false, ...opts });
    producers.push(p);
    await p.connect();
    return p;
  }

  test('produces and consumes keyed messages on an explicitly created topic', async () => {
    const topic = await createTopic(uniqueName('harness-roundtrip'), 3);
    const admin = kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.disconnect();
    expect(meta.topics[0].partitions).toHaveLength(3);

    const p = await producer();
    const sent = Array.from({ length: 12 }, (_, i) => ({ key: `sku-${i % 4}`, value: `qty=${i}` }));
    const acks = await p.send({ topic, acks: -1, messages: sent });
    expect(acks.map((a) => a.errorCode)).toEqual(acks.map(() => 0));

    const got = await consumeN(kafka, topic, sent.length);
    expect(got).toHaveLength(sent.length);
    expect(got.map((m) => m.value).sort()).toEqual(sent.map((m) => m.value).sort());
    // Same key -> same partition, and per-key order is preserved.
    for (const key of ['sku-0', 'sku-1', 'sku-2', 'sku-3']) {
      const forKey = got.filter((m) => m.key === key);
      expect(new Set(forKey.map((m) => m.partition)).size).toBe(1);
      expect(forKey.map((m) => m.value)).toEqual(sent.filter((m) => m.key === key).map((m) => m.value));
    }
  });

  test('a missing topic is reported, not auto-created (auto.create.topics.enable=false)', async () => {
    const missing = uniqueName('harness-missing');
    // The client asks for auto-creation (kafkajs' default): only the broker's auto.create.topics.enable=false stops it.
    const p = await producer({ allowAutoTopicCreation: true, retry: { retries: 1, initialRetryTime: 100 } });
    const err = await p.send({ topic: missing, messages: [{ value: 'x' }] }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).not.toBeNull();
    expect(`${err?.name} ${err?.message}`).toMatch(/does not host this topic-partition|UNKNOWN_TOPIC_OR_PARTITION/i);

    const admin = kafka.admin();
    await admin.connect();
    try {
      await expect(admin.fetchTopicMetadata({ topics: [missing] })).rejects.toThrow(/does not host this topic/);
      expect(await admin.listTopics()).not.toContain(missing);
    } finally {
      await admin.disconnect();
    }
  });

  test('survives a graceful stop and a SIGKILL crash: restart on the same address with the data kept', async () => {
    const topic = await createTopic(uniqueName('harness-restart'), 1);
    const before = await producer();
    await before.send({ topic, acks: -1, messages: [{ key: 'k', value: 'before-stop' }] });

    await stopKafka();
    expect(await isKafkaRunning()).toBe(false);
    expect(await tcpRefused(kafkaBrokers()[0])).toBe(true);

    await startKafka();
    expect(await isKafkaRunning()).toBe(true);
    // The producer connected before the stop reconnects by itself.
    await before.send({ topic, acks: -1, messages: [{ key: 'k', value: 'after-restart' }] });

    await stopKafka({ signal: 'SIGKILL' });
    expect(await tcpRefused(kafkaBrokers()[0])).toBe(true);
    await startKafka();
    const after = await producer();
    await after.send({ topic, acks: -1, messages: [{ key: 'k', value: 'after-crash' }] });

    const got = await consumeN(kafka, topic, 3);
    expect(got.map((m) => [m.offset, m.value])).toEqual([
      ['0', 'before-stop'],
      ['1', 'after-restart'],
      ['2', 'after-crash'],
    ]);
  });
});

describe('real redis-server', () => {
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
  afterAll(async () => {
    await redis.quit().catch(() => {});
  });

  test('SET/GET with expiry, a list and a stream', async () => {
    const key = uniqueName('harness:key');
    expect(await redis.set(key, 'on-hand=42', 'EX', 60)).toBe('OK');
    expect(await redis.get(key)).toBe('on-hand=42');
    expect(await redis.ttl(key)).toBeGreaterThan(0);
    expect(await redis.get(uniqueName('harness:absent'))).toBeNull();

    const list = uniqueName('harness:list');
    expect(await redis.rpush(list, 'a', 'b', 'c')).toBe(3);
    expect(await redis.lpop(list)).toBe('a');
    expect(await redis.lrange(list, 0, -1)).toEqual(['b', 'c']);

    const stream = uniqueName('harness:stream');
    const id1 = await redis.xadd(stream, '*', 'sku', 'A1', 'qty', '5');
    const id2 = await redis.xadd(stream, '*', 'sku', 'B2', 'qty', '7');
    if (id1 === null || id2 === null) throw new Error('XADD returned no id');
    expect(id1).not.toBe(id2);
    const entries = await redis.xrange(stream, '-', '+');
    expect(entries).toEqual([
      [id1, ['sku', 'A1', 'qty', '5']],
      [id2, ['sku', 'B2', 'qty', '7']],
    ]);
    await redis.xgroup('CREATE', stream, 'g', '0');
    const read = (await redis.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', stream, '>')) as [
      string,
      [string, string[]][],
    ][];
    expect(read[0][1].map(([id]) => id)).toEqual([id1, id2]);
    expect(await redis.xack(stream, 'g', id1, id2)).toBe(2);
  });

  // A reused external redis (REDIS_URL set by hand) has its own config; ours runs with persistence off.
  test.skipIf(!process.env.STOCKBRIDGE_REDIS_INSTANCE)('harness redis runs without persistence', async () => {
    expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(await redis.config('GET', 'save')).toEqual(['save', '']);
  });
});
