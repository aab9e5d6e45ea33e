/**
 * Adapter over kafkajs 2.2 (the listed client; unmaintained since 2023). Kept selectable with `client: kafkajs`.
 * kafkajs ships gzip only; zstd comes from Node's own zlib, snappy and lz4 from @platformatic/wasm-utils (the
 * maintained codecs @platformatic/kafka uses), registered here as kafkajs codecs.
 */
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { lz4Compress, lz4Decompress, snappyCompress, snappyDecompress } from '@platformatic/wasm-utils';
import kafkajs, {
  type Admin,
  type CompressionTypes as CompressionType,
  type Consumer,
  type IHeaders,
  type Kafka as KafkaClient,
  type KafkaConfig,
  type Producer,
  type SASLOptions,
} from 'kafkajs';

// kafkajs is CommonJS: Node cannot see all its named exports statically.
const { CompressionCodecs, CompressionTypes, ConfigResourceTypes, Kafka, logLevel } = kafkajs;
import {
  type AdminAdapter,
  type AssignmentChange,
  classify,
  type ConsumerAdapter,
  type ConsumerSettings,
  type InMessage,
  type KafkaClientFactory,
  type OutMessage,
  type ProducerAdapter,
  type ProducerSettings,
  type TopicInfo,
  type TopicOffset,
  type TopicPartition,
} from './adapter.ts';
import type { Compression, ResolvedConnection } from './options.ts';

const XERIAL = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
function unsnappy(buf: Buffer): Buffer {
  if (!buf.subarray(0, 8).equals(XERIAL)) return snappyDecompress(buf);
  const parts: Buffer[] = [];
  for (let o = 16; o + 4 <= buf.length; ) {
    const n = buf.readUInt32BE(o);
    parts.push(snappyDecompress(buf.subarray(o + 4, o + 4 + n)));
    o += 4 + n;
  }
  return Buffer.concat(parts);
}

let codecsRegistered = false;
function registerCodecs(): void {
  if (codecsRegistered) return;
  codecsRegistered = true;
  const codec = (c: (b: Buffer) => Buffer, d: (b: Buffer) => Buffer) => () => ({
    async compress(encoder: { buffer: Buffer }) {
      return c(encoder.buffer);
    },
    async decompress(buffer: Buffer) {
      return d(buffer);
    },
  });
  const codecs = CompressionCodecs as Record<number, () => unknown>;
  codecs[CompressionTypes.ZSTD] = codec(
    (b) => zstdCompressSync(b),
    (b) => zstdDecompressSync(b),
  );
  codecs[CompressionTypes.Snappy] = codec((b) => snappyCompress(b), unsnappy);
  codecs[CompressionTypes.LZ4] = codec(
    (b) => lz4Compress(b),
    (b) => lz4Decompress(b),
  );
}

const COMPRESSION: Record<Compression, CompressionType> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

function kafka(conn: ResolvedConnection): KafkaClient {
  registerCodecs();
  const level = process.env.KAFKAJS_LOG_LEVEL?.toUpperCase() as keyof typeof logLevel | undefined;
  const cfg: KafkaConfig = {
    clientId: conn.clientId,
    brokers: conn.brokers,
    connectionTimeout: conn.connectTimeoutMs,
    requestTimeout: conn.requestTimeoutMs,
    logLevel: level && level in logLevel ? logLevel[level] : logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 250, maxRetryTime: 5_000 },
  };
  if (conn.tls) {
    cfg.ssl = {
      ca: conn.tls.ca,
      cert: conn.tls.cert,
      key: conn.tls.key,
      passphrase: conn.tls.passphrase,
      rejectUnauthorized: conn.tls.rejectUnauthorized,
      servername: conn.tls.servername,
    };
  }
  if (conn.sasl) cfg.sasl = { mechanism: conn.sasl.mechanism, username: conn.sasl.username, password: conn.sasl.password } as SASLOptions;
  return new Kafka(cfg);
}

class KafkajsProducer implements ProducerAdapter {
  readonly #p: Producer;
  readonly #compression: CompressionType;
  #connected: Promise<void> | undefined;

  constructor(conn: ResolvedConnection, s: ProducerSettings) {
    // kafkajs's idempotent producer is only safe with one request in flight (sequence numbers per partition).
    this.#p = kafka(conn).producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.#compression = COMPRESSION[s.compression];
  }

  connect(): Promise<void> {
    this.#connected ??= this.#p.connect().catch((err) => {
      this.#connected = undefined;
      throw classify(err, 'producer cannot connect');
    });
    return this.#connected;
  }

  async send(messages: OutMessage[]): Promise<void> {
    await this.connect();
    const byTopic = new Map<string, Array<{ key: Buffer | null; value: Buffer; partition: number; headers: IHeaders }>>();
    for (const m of messages) {
      let l = byTopic.get(m.topic);
      if (!l) byTopic.set(m.topic, (l = []));
      l.push({ key: m.key, value: m.value, partition: m.partition, headers: m.headers });
    }
    try {
      await this.#p.sendBatch({
        acks: -1,
        compression: this.#compression,
        topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })),
      });
    } catch (err) {
      throw classify(err, 'produce failed');
    }
  }

  async close(): Promise<void> {
    await this.#p.disconnect().catch(() => undefined);
  }
}

interface Queued {
  msgs: InMessage[];
  i: number;
}

class KafkajsConsumer implements ConsumerAdapter {
  readonly #k: KafkaClient;
  readonly #c: Consumer;
  readonly #s: ConsumerSettings;
  readonly #queue: Queued[] = [];
  #queued = 0;
  #assigned = new Map<string, TopicPartition>();
  #wakePoll: (() => void) | undefined;
  #drained: Array<() => void> = [];
  #error: unknown;
  #closing = false;
  #admin: Admin | undefined;

  constructor(conn: ResolvedConnection, s: ConsumerSettings) {
    this.#s = s;
    this.#k = kafka(conn);
    this.#c = this.#k.consumer({
      groupId: s.groupId,
      sessionTimeout: s.sessionTimeoutMs,
      heartbeatInterval: s.heartbeatIntervalMs,
      rebalanceTimeout: s.rebalanceTimeoutMs,
      maxWaitTimeInMs: s.maxWaitMs,
      maxBytes: s.maxBytes,
      allowAutoTopicCreation: false,
    });
  }

  #wake(): void {
    const w = this.#wakePoll;
    this.#wakePoll = undefined;
    w?.();
  }

  async start(onAssignment: (c: AssignmentChange) => void): Promise<void> {
    const { GROUP_JOIN, CRASH } = this.#c.events;
    this.#c.on(GROUP_JOIN, (e) => {
      const next = new Map<string, TopicPartition>();
      for (const [topic, parts] of Object.entries(e.payload.memberAssignment))
        for (const partition of parts) next.set(`${topic}/${partition}`, { topic, partition });
      const assigned = [...next].filter(([k]) => !this.#assigned.has(k)).map(([, v]) => v);
      const revoked = [...this.#assigned].filter(([k]) => !next.has(k)).map(([, v]) => v);
      this.#assigned = next;
      // kafkajs restarts every assigned partition from its committed offset after a rebalance: drop what is queued.
      this.#queue.length = 0;
      this.#queued = 0;
      for (const d of this.#drained.splice(0)) d();
      onAssignment({ assigned, revoked });
    });
    this.#c.on(CRASH, (e) => {
      if (!e.payload.restart) {
        this.#error = e.payload.error;
        this.#wake();
      }
    });
    try {
      await this.#c.connect();
      await this.#c.subscribe({ topics: this.#s.topics, fromBeginning: this.#s.fallback === 'earliest' });
      await this.#c.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 4,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          if (!batch.messages.length || isStale()) return;
          const { topic, partition } = batch;
          const msgs: InMessage[] = batch.messages.map((m) => ({
            topic,
            partition,
            offset: BigInt(m.offset),
            key: m.key,
            value: m.value,
            headers: headerEntries(m.headers),
            timestamp: Number(m.timestamp),
          }));
          this.#queue.push({ msgs, i: 0 });
          this.#queued += msgs.length;
          resolveOffset(batch.lastOffset());
          this.#wake();
          while (this.#queued > this.#s.highWaterMark && isRunning() && !isStale() && !this.#closing) {
            await new Promise<void>((r) => {
              this.#drained.push(r);
              setTimeout(r, 1000);
            });
            await heartbeat();
          }
        },
      });
    } catch (err) {
      throw classify(err, `cannot join consumer group '${this.#s.groupId}'`);
    }
  }

  #take(max: number, out: InMessage[]): void {
    while (out.length < max && this.#queue.length) {
      const q = this.#queue[0];
      const key = `${q.msgs[0].topic}/${q.msgs[0].partition}`;
      if (!this.#assigned.has(key)) {
        this.#queued -= q.msgs.length - q.i;
        this.#queue.shift();
        continue;
      }
      const n = Math.min(max - out.length, q.msgs.length - q.i);
      for (let j = 0; j < n; j++) out.push(q.msgs[q.i + j]);
      q.i += n;
      this.#queued -= n;
      if (q.i === q.msgs.length) this.#queue.shift();
    }
    if (this.#queued <= this.#s.highWaterMark) for (const d of this.#drained.splice(0)) d();
  }

  async poll(max: number, waitMs: number): Promise<InMessage[]> {
    if (this.#error) throw classify(this.#error, 'consumer failed');
    const out: InMessage[] = [];
    this.#take(max, out);
    if (out.length) return out;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#wakePoll = undefined;
        resolve();
      }, waitMs);
      this.#wakePoll = () => {
        clearTimeout(t);
        resolve();
      };
    });
    if (this.#error) throw classify(this.#error, 'consumer failed');
    this.#take(max, out);
    return out;
  }

  assignment(): TopicPartition[] {
    return [...this.#assigned.values()];
  }

  async commit(offsets: TopicOffset[]): Promise<void> {
    try {
      await this.#c.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset.toString() })));
    } catch (err) {
      throw classify(err, 'offset commit failed');
    }
  }

  async committed(partitions: TopicPartition[]): Promise<TopicOffset[]> {
    this.#admin ??= this.#k.admin();
    try {
      await this.#admin.connect();
      const topics = [...new Set(partitions.map((p) => p.topic))];
      const res = await this.#admin.fetchOffsets({ groupId: this.#s.groupId, topics });
      return partitions.map((p) => {
        const o = res.find((t) => t.topic === p.topic)?.partitions.find((x) => x.partition === p.partition)?.offset;
        return { ...p, offset: o === undefined ? -1n : BigInt(o) };
      });
    } catch (err) {
      throw classify(err, 'cannot read committed offsets');
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const d of this.#drained.splice(0)) d();
    this.#wake();
    await this.#c.disconnect().catch(() => undefined);
    await this.#admin?.disconnect().catch(() => undefined);
  }
}

function headerEntries(h: IHeaders | undefined): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  if (!h) return out;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, Buffer.isBuffer(x) ? x : Buffer.from(x)]);
    else out.push([k, Buffer.isBuffer(v) ? v : Buffer.from(v)]);
  }
  return out;
}

class KafkajsAdmin implements AdminAdapter {
  readonly #a: Admin;
  #connected: Promise<void> | undefined;

  constructor(conn: ResolvedConnection) {
    this.#a = kafka(conn).admin();
  }

  #connect(): Promise<void> {
    this.#connected ??= this.#a.connect().catch((err) => {
      this.#connected = undefined;
      throw classify(err, 'admin cannot connect');
    });
    return this.#connected;
  }

  async describeTopics(topics: string[]): Promise<Map<string, TopicInfo | null>> {
    await this.#connect();
    const out = new Map<string, TopicInfo | null>();
    try {
      const existing = new Set(await this.#a.listTopics());
      const present = topics.filter((t) => existing.has(t));
      for (const t of topics) if (!existing.has(t)) out.set(t, null);
      if (!present.length) return out;
      const md = await this.#a.fetchTopicMetadata({ topics: present });
      const cfg = await this.#a.describeConfigs({
        includeSynonyms: false,
        resources: present.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      });
      for (const t of present) {
        const c: Record<string, string> = {};
        for (const e of cfg.resources.find((r) => r.resourceName === t)?.configEntries ?? []) if (e.configValue !== null) c[e.configName] = e.configValue;
        out.set(t, { partitions: md.topics.find((x) => x.name === t)?.partitions.length ?? 0, configs: c });
      }
      return out;
    } catch (err) {
      throw classify(err, `cannot describe topics ${topics.join(', ')}`);
    }
  }

  async createTopic(topic: string, partitions: number, replicationFactor: number, configs: Record<string, string>): Promise<void> {
    await this.#connect();
    try {
      await this.#a.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor,
            configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
          },
        ],
      });
    } catch (err) {
      throw classify(err, `cannot create topic '${topic}'`);
    }
  }

  async listOffsets(topic: string, at: 'earliest' | 'latest' | number): Promise<TopicOffset[]> {
    await this.#connect();
    try {
      if (typeof at === 'number') {
        const res = await this.#a.fetchTopicOffsetsByTimestamp(topic, at);
        return res.map((p) => ({ topic, partition: p.partition, offset: BigInt(p.offset) })).sort((a, b) => a.partition - b.partition);
      }
      const res = await this.#a.fetchTopicOffsets(topic);
      return res
        .map((p) => ({ topic, partition: p.partition, offset: BigInt(at === 'earliest' ? p.low : p.high) }))
        .sort((a, b) => a.partition - b.partition);
    } catch (err) {
      throw classify(err, `cannot list offsets of '${topic}'`);
    }
  }

  async groupOffsets(groupId: string, topic: string): Promise<TopicOffset[]> {
    await this.#connect();
    try {
      const res = await this.#a.fetchOffsets({ groupId, topics: [topic] });
      return (res[0]?.partitions ?? []).map((p) => ({ topic, partition: p.partition, offset: BigInt(p.offset) }));
    } catch (err) {
      throw classify(err, `cannot read offsets of group '${groupId}'`);
    }
  }

  async setGroupOffsets(groupId: string, offsets: TopicOffset[]): Promise<void> {
    await this.#connect();
    try {
      for (const topic of new Set(offsets.map((o) => o.topic)))
        await this.#a.setOffsets({
          groupId,
          topic,
          partitions: offsets.filter((o) => o.topic === topic).map((o) => ({ partition: o.partition, offset: o.offset.toString() })),
        });
    } catch (err) {
      throw classify(err, `cannot set offsets of group '${groupId}'`);
    }
  }

  async close(): Promise<void> {
    await this.#a.disconnect().catch(() => undefined);
  }
}

export const kafkajsClient: KafkaClientFactory = {
  name: 'kafkajs',
  producer: (conn, s) => new KafkajsProducer(conn, s),
  consumer: (conn, s) => new KafkajsConsumer(conn, s),
  admin: (conn) => new KafkajsAdmin(conn),
};
