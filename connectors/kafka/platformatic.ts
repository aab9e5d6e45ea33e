/**
 * Adapter over @platformatic/kafka (2.x, pure JavaScript, maintained): the default client.
 */
import {
  Admin,
  Consumer,
  ConfigResourceTypes,
  type Message,
  type MessagesStream,
  Producer,
  type SASLMechanismValue,
  stringDeserializer,
} from '@platformatic/kafka';
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
import type { ResolvedConnection } from './options.ts';

const MECHANISMS: Record<string, SASLMechanismValue> = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
};

function base(conn: ResolvedConnection) {
  return {
    clientId: conn.clientId,
    bootstrapBrokers: conn.brokers,
    connectTimeout: conn.connectTimeoutMs,
    requestTimeout: conn.requestTimeoutMs,
    timeout: conn.requestTimeoutMs,
    retries: 3,
    retryDelay: 250,
    autocreateTopics: false,
    ...(conn.tls
      ? {
          tls: {
            ca: conn.tls.ca,
            cert: conn.tls.cert,
            key: conn.tls.key,
            passphrase: conn.tls.passphrase,
            rejectUnauthorized: conn.tls.rejectUnauthorized,
            servername: conn.tls.servername,
          },
          ...(conn.tls.servername ? { tlsServerName: conn.tls.servername } : {}),
        }
      : {}),
    ...(conn.sasl
      ? { sasl: { mechanism: MECHANISMS[conn.sasl.mechanism], username: conn.sasl.username, password: conn.sasl.password } }
      : {}),
  };
}

/** Header names are few and constant: keep their Buffers. */
const headerKeys = new Map<string, Buffer>();
function headerKey(k: string): Buffer {
  let b = headerKeys.get(k);
  if (!b) headerKeys.set(k, (b = Buffer.from(k)));
  return b;
}

class PlatformaticProducer implements ProducerAdapter {
  readonly #p: Producer;
  constructor(conn: ResolvedConnection, s: ProducerSettings) {
    this.#p = new Producer({
      ...base(conn),
      idempotent: true,
      acks: -1,
      compression: s.compression,
      maxInflights: s.maxInFlight,
    });
  }

  async connect(): Promise<void> {
    // Connections are lazy; the first send (or the admin's topic check) opens them.
  }

  async send(messages: OutMessage[]): Promise<void> {
    const out = new Array(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      const headers = new Map<Buffer, Buffer>();
      for (const k in m.headers) headers.set(headerKey(k), m.headers[k]);
      out[i] = { topic: m.topic, partition: m.partition, key: m.key ?? undefined, value: m.value, headers };
    }
    try {
      await this.#p.send({ messages: out, acks: -1 });
    } catch (err) {
      throw classify(err, 'produce failed');
    }
  }

  async close(): Promise<void> {
    await this.#p.close(true).catch(() => undefined);
  }
}

type Msg = Message<Buffer, Buffer, string, Buffer>;

class PlatformaticConsumer implements ConsumerAdapter {
  readonly #c: Consumer<Buffer, Buffer, string, Buffer>;
  readonly #s: ConsumerSettings;
  #stream: MessagesStream<Buffer, Buffer, string, Buffer> | undefined;
  #error: unknown;
  #ended = false;
  #assigned = new Map<string, TopicPartition>();
  #wake: (() => void) | undefined;

  constructor(conn: ResolvedConnection, s: ConsumerSettings) {
    this.#s = s;
    this.#c = new Consumer<Buffer, Buffer, string, Buffer>({
      ...base(conn),
      groupId: s.groupId,
      sessionTimeout: s.sessionTimeoutMs,
      heartbeatInterval: s.heartbeatIntervalMs,
      rebalanceTimeout: s.rebalanceTimeoutMs,
      maxWaitTime: s.maxWaitMs,
      maxBytes: s.maxBytes,
      autocommit: false,
      highWaterMark: s.highWaterMark,
      deserializers: { headerKey: stringDeserializer },
    });
  }

  #setAssignment(onAssignment: (c: AssignmentChange) => void): void {
    const next = new Map<string, TopicPartition>();
    for (const a of this.#c.assignments ?? [])
      for (const partition of a.partitions) next.set(`${a.topic}/${partition}`, { topic: a.topic, partition });
    const assigned = [...next].filter(([k]) => !this.#assigned.has(k)).map(([, v]) => v);
    const revoked = [...this.#assigned].filter(([k]) => !next.has(k)).map(([, v]) => v);
    this.#assigned = next;
    onAssignment({ assigned, revoked });
  }

  async start(onAssignment: (c: AssignmentChange) => void): Promise<void> {
    this.#c.on('consumer:group:join', () => this.#setAssignment(onAssignment));
    try {
      this.#stream = await this.#c.consume({
        topics: this.#s.topics,
        mode: 'committed',
        fallbackMode: this.#s.fallback,
        autocommit: false,
        maxWaitTime: this.#s.maxWaitMs,
        maxBytes: this.#s.maxBytes,
        highWaterMark: this.#s.highWaterMark,
        sessionTimeout: this.#s.sessionTimeoutMs,
        heartbeatInterval: this.#s.heartbeatIntervalMs,
        rebalanceTimeout: this.#s.rebalanceTimeoutMs,
      });
    } catch (err) {
      throw classify(err, `cannot join consumer group '${this.#s.groupId}'`);
    }
    this.#setAssignment(onAssignment);
    const stream = this.#stream;
    const wake = () => {
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    };
    stream.on('readable', wake);
    stream.on('error', (err) => {
      this.#error = err;
      wake();
    });
    stream.on('end', () => {
      this.#ended = true;
      wake();
    });
  }

  #take(max: number, out: InMessage[]): void {
    const stream = this.#stream!;
    while (out.length < max) {
      const m = stream.read() as Msg | null;
      if (m === null) break;
      if (!this.#assigned.has(`${m.topic}/${m.partition}`)) continue; // revoked meanwhile: the new owner reads it
      out.push({
        topic: m.topic,
        partition: m.partition,
        offset: m.offset,
        key: m.key ?? null,
        value: m.value ?? null,
        headers: m.headerEntries,
        timestamp: Number(m.timestamp),
      });
    }
  }

  async poll(max: number, waitMs: number): Promise<InMessage[]> {
    const out: InMessage[] = [];
    if (this.#error) throw classify(this.#error, 'consumer failed');
    if (!this.#stream || this.#ended) return out;
    this.#take(max, out);
    if (out.length) return out;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, waitMs);
      this.#wake = () => {
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
      await this.#c.commit({ offsets: offsets.map((o) => ({ ...o, leaderEpoch: -1 })) });
    } catch (err) {
      throw classify(err, 'offset commit failed');
    }
  }

  async committed(partitions: TopicPartition[]): Promise<TopicOffset[]> {
    const byTopic = new Map<string, number[]>();
    for (const p of partitions) {
      let l = byTopic.get(p.topic);
      if (!l) byTopic.set(p.topic, (l = []));
      l.push(p.partition);
    }
    try {
      const res = await this.#c.listCommittedOffsets({ topics: [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps })) });
      return partitions.map((p) => ({ ...p, offset: res.get(p.topic)?.[p.partition] ?? -1n }));
    } catch (err) {
      throw classify(err, 'cannot read committed offsets');
    }
  }

  async close(): Promise<void> {
    this.#wake?.();
    if (this.#stream) await this.#stream.close().catch(() => undefined);
    await this.#c.close(true).catch(() => undefined);
  }
}

class PlatformaticAdmin implements AdminAdapter {
  readonly #a: Admin;
  constructor(conn: ResolvedConnection) {
    this.#a = new Admin(base(conn));
  }

  async describeTopics(topics: string[]): Promise<Map<string, TopicInfo | null>> {
    const out = new Map<string, TopicInfo | null>();
    let existing: Set<string>;
    try {
      existing = new Set(await this.#a.listTopics({ includeInternals: false }));
    } catch (err) {
      throw classify(err, 'cannot list topics');
    }
    const present = topics.filter((t) => existing.has(t));
    for (const t of topics) if (!existing.has(t)) out.set(t, null);
    if (!present.length) return out;
    try {
      const md = await this.#a.metadata({ topics: present });
      const configs = await this.#a.describeConfigs({
        resources: present.map((t) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: t })),
      });
      for (const t of present) {
        const c: Record<string, string> = {};
        for (const e of configs.find((r) => r.resourceName === t)?.configs ?? []) if (e.value != null) c[e.name] = e.value;
        out.set(t, { partitions: md.topics.get(t)?.partitionsCount ?? 0, configs: c });
      }
    } catch (err) {
      throw classify(err, `cannot describe topics ${present.join(', ')}`);
    }
    return out;
  }

  async createTopic(topic: string, partitions: number, replicationFactor: number, configs: Record<string, string>): Promise<void> {
    try {
      await this.#a.createTopics({
        topics: [topic],
        partitions,
        replicas: replicationFactor,
        configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
      });
    } catch (err) {
      throw classify(err, `cannot create topic '${topic}'`);
    }
  }

  async listOffsets(topic: string, at: 'earliest' | 'latest' | number): Promise<TopicOffset[]> {
    const info = await this.describeTopics([topic]);
    const n = info.get(topic)?.partitions ?? 0;
    const timestamp = at === 'earliest' ? -2n : at === 'latest' ? -1n : BigInt(at);
    try {
      const res = await this.#a.listOffsets({
        topics: [{ name: topic, partitions: Array.from({ length: n }, (_, partitionIndex) => ({ partitionIndex, timestamp })) }],
      });
      const out: TopicOffset[] = [];
      for (const t of res) for (const p of t.partitions) out.push({ topic, partition: p.partitionIndex, offset: p.offset });
      return out.sort((a, b) => a.partition - b.partition);
    } catch (err) {
      throw classify(err, `cannot list offsets of '${topic}'`);
    }
  }

  async groupOffsets(groupId: string, topic: string): Promise<TopicOffset[]> {
    try {
      const res = await this.#a.listConsumerGroupOffsets({ groups: [groupId] });
      const out: TopicOffset[] = [];
      for (const g of res)
        for (const t of g.topics)
          if (t.name === topic) for (const p of t.partitions) out.push({ topic, partition: p.partitionIndex, offset: p.committedOffset });
      return out;
    } catch (err) {
      throw classify(err, `cannot read offsets of group '${groupId}'`);
    }
  }

  async setGroupOffsets(groupId: string, offsets: TopicOffset[]): Promise<void> {
    const byTopic = new Map<string, Array<{ partition: number; offset: bigint }>>();
    for (const o of offsets) {
      let l = byTopic.get(o.topic);
      if (!l) byTopic.set(o.topic, (l = []));
      l.push({ partition: o.partition, offset: o.offset });
    }
    try {
      await this.#a.alterConsumerGroupOffsets({
        groupId,
        topics: [...byTopic].map(([name, partitionOffsets]) => ({ name, partitionOffsets })),
      });
    } catch (err) {
      throw classify(err, `cannot set offsets of group '${groupId}'`);
    }
  }

  async close(): Promise<void> {
    await this.#a.close().catch(() => undefined);
  }
}

export const platformaticClient: KafkaClientFactory = {
  name: 'platformatic',
  producer: (conn, s) => new PlatformaticProducer(conn, s),
  consumer: (conn, s) => new PlatformaticConsumer(conn, s),
  admin: (conn) => new PlatformaticAdmin(conn),
};
