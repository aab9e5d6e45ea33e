/**
 * The Kafka sink: canonical events → records (value, key, explicit murmur2 partition, lineage headers), produced
 * by the idempotent producer with acks=all. write() resolves only when Kafka acknowledged every event of the
 * batch, so the engine commits the source position only after that.
 *
 * Batching: writes accumulate until `batch.maxMessages` / `batch.maxBytes` or `batch.lingerMs`, then go out as one
 * produce request (several when the bytes exceed `batch.maxBytes`); at most `maxInFlight` requests at once.
 */
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import {
  ConfigError,
  type DeadLetterInput,
  type Logger,
  type Sink,
  type SinkContext,
  TransientError,
} from '../../runtime/contracts/spi.ts';
import type { RegistryOptions } from '../../runtime/formats/avro.ts';
import { type KafkaClientFactory, KafkaError, classify, type OutMessage, type ProducerAdapter } from './adapter.ts';
import { HEADERS, keyFunction, lineageHeaders, partitionFor, type ValueEncoder, type ValueFormat, valueEncoder } from './codec.ts';
import type { Compression, ConnectionOptions, ResolvedConnection, TopicCreation } from './options.ts';
import { ensureTopics } from './topics.ts';

export interface KafkaSinkOptions extends ConnectionOptions {
  topic?: string;
  topics?: Record<string, string>;
  key: string;
  format: ValueFormat;
  schemaRegistry?: RegistryOptions & { subjectStrategy?: 'topic' | 'record' };
  compression: Compression;
  batch: { lingerMs: number; maxMessages: number; maxBytes: number };
  maxInFlight?: number;
  oversized: 'dead-letter' | 'fail';
  lineageHeaders: 'full' | 'minimal';
  createTopics?: TopicCreation;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  /** Sends this write still waits for. */
  left: number;
  failed: boolean;
}

interface Pending {
  messages: OutMessage[];
  bytes: number;
  waiters: Waiter[];
}

export class KafkaSink implements Sink {
  readonly #o: KafkaSinkOptions;
  readonly #conn: ResolvedConnection;
  readonly #client: KafkaClientFactory;
  readonly #ctx: SinkContext;
  readonly #log: Logger;
  readonly #key: ((e: InventoryEvent) => Buffer | null) | null;
  readonly #maxInFlight: number;
  #encoder!: ValueEncoder;
  #partitions = new Map<string, number>();
  #maxMessageBytes = new Map<string, number>();
  #producer: ProducerAdapter | undefined;
  #buffer: Pending = { messages: [], bytes: 0, waiters: [] };
  #linger: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #queue: Pending[] = [];
  #idle: Array<() => void> = [];
  #roundRobin = 0;
  #constantHeaders: Record<string, Buffer> = {};
  #topicOf: (e: InventoryEvent) => string;

  constructor(o: KafkaSinkOptions, conn: ResolvedConnection, client: KafkaClientFactory, ctx: SinkContext) {
    this.#o = o;
    this.#conn = conn;
    this.#client = client;
    this.#ctx = ctx;
    this.#log = ctx.log;
    this.#key = keyFunction(o.key);
    this.#maxInFlight = o.maxInFlight ?? (client.name === 'kafkajs' ? 1 : 5);
    if (o.topic && o.topics) throw new ConfigError('kafka sink: give either `topic` or `topics`, not both');
    if (o.topic) {
      const t = o.topic;
      this.#topicOf = () => t;
    } else if (o.topics) {
      const map = o.topics;
      const fallback = map.default;
      this.#topicOf = (e) => {
        const t = map[e.eventType] ?? fallback;
        if (!t) throw new Error(`no topic for event type ${e.eventType} (add it, or a \`default\`, to \`topics\`)`);
        return t;
      };
    } else throw new ConfigError('kafka sink: `topic` (one topic) or `topics` (by event type) is required');
  }

  topicNames(): string[] {
    return this.#o.topic ? [this.#o.topic] : [...new Set(Object.values(this.#o.topics ?? {}))];
  }

  /** Checks (or creates) the topics, registers the schema, connects the producer. */
  async init(): Promise<void> {
    const admin = this.#client.admin(this.#conn);
    try {
      const info = await ensureTopics(admin, this.topicNames(), this.#o.createTopics, this.#log, 'sink');
      for (const [t, i] of info) {
        this.#partitions.set(t, i.partitions);
        this.#maxMessageBytes.set(t, Number(i.configs['max.message.bytes'] ?? 1_048_588));
      }
    } catch (err) {
      throw startError(err);
    } finally {
      await admin.close();
    }
    this.#encoder = valueEncoder(this.#o.format, this.#o.schemaRegistry);
    await this.#encoder.prepare(this.topicNames());
    this.#constantHeaders = { ...this.#encoder.headers };
    this.#producer = this.#newProducer();
    await this.#producer.connect();
    this.#log.info({ client: this.#client.name, topics: this.topicNames(), format: this.#o.format, compression: this.#o.compression }, 'kafka sink ready');
  }

  #newProducer(): ProducerAdapter {
    return this.#client.producer(this.#conn, { compression: this.#o.compression, maxInFlight: this.#maxInFlight });
  }

  write(events: readonly InventoryEvent[]): Promise<void> {
    const messages: OutMessage[] = [];
    const oversized: DeadLetterInput[] = [];
    let bytes = 0;
    const pipeline = this.#ctx.pipeline;
    const minimal = this.#o.lineageHeaders === 'minimal';
    try {
      for (const e of events) {
        const topic = this.#topicOf(e);
        const value = this.#encoder.encode(e, topic);
        const key = this.#key ? this.#key(e) : null;
        const headers = lineageHeaders(e, pipeline, this.#constantHeaders, minimal);
        const n = this.#partitions.get(topic)!;
        const partition = key ? partitionFor(key, n) : this.#roundRobin++ % n;
        let size = value.length + (key?.length ?? 0) + 70;
        for (const k in headers) size += k.length + headers[k].length + 2;
        if (size > this.#maxMessageBytes.get(topic)!) {
          const reason = `event of ${size} bytes exceeds max.message.bytes ${this.#maxMessageBytes.get(topic)} of topic '${topic}'`;
          if (this.#o.oversized === 'fail') return Promise.reject(new Error(`message too large: ${reason}`));
          oversized.push({ stage: 'sink', reason, ref: e.source?.recordRef ?? e.eventId, payload: JSON.stringify(e), meta: { eventId: e.eventId, topic } });
          continue;
        }
        messages.push({ topic, partition, key, value, headers });
        bytes += size;
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const work: Promise<void>[] = [];
    if (oversized.length) {
      this.#log.warn({ count: oversized.length }, 'events larger than the topic allows went to the dead-letter store');
      work.push(...oversized.map((d) => this.#ctx.deadLetter(d)));
    }
    if (messages.length) work.push(this.#enqueue(messages, bytes));
    return work.length === 1 ? work[0] : Promise.all(work).then(() => undefined);
  }

  #enqueue(messages: OutMessage[], bytes: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject, left: 0, failed: false };
      const { maxMessages, maxBytes, lingerMs } = this.#o.batch;
      let i = 0;
      const perMsg = bytes / messages.length;
      while (i < messages.length) {
        const room = Math.max(1, Math.min(maxMessages - this.#buffer.messages.length, Math.floor((maxBytes - this.#buffer.bytes) / perMsg)));
        const part = i === 0 && room >= messages.length ? messages : messages.slice(i, i + room);
        i += part.length;
        for (const m of part) this.#buffer.messages.push(m);
        this.#buffer.bytes += part.length * perMsg;
        if (!this.#buffer.waiters.includes(w)) {
          this.#buffer.waiters.push(w);
          w.left++;
        }
        if (this.#buffer.messages.length >= maxMessages || this.#buffer.bytes >= maxBytes) this.#cut();
      }
      if (this.#buffer.messages.length && lingerMs === 0) this.#cut();
      else if (this.#buffer.messages.length && !this.#linger) this.#linger = setTimeout(() => this.#cut(), lingerMs);
    });
  }

  /** Closes the current buffer into a request and sends it when a slot is free. */
  #cut(): void {
    if (this.#linger) {
      clearTimeout(this.#linger);
      this.#linger = undefined;
    }
    if (!this.#buffer.messages.length) return;
    this.#queue.push(this.#buffer);
    this.#buffer = { messages: [], bytes: 0, waiters: [] };
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length) {
      const p = this.#queue.shift()!;
      this.#inFlight++;
      void this.#send(p).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.#inFlight === 0 && !this.#queue.length) for (const f of this.#idle.splice(0)) f();
      });
    }
  }

  async #send(p: Pending): Promise<void> {
    const producer = this.#producer!;
    try {
      await producer.send(p.messages);
      for (const w of p.waiters) if (--w.left === 0 && !w.failed) w.resolve();
    } catch (err) {
      const e = sendError(err, this.topicNames());
      if (e instanceof TransientError && this.#producer === producer) {
        // The idempotent producer's sequence numbers are now unknown: continue with a fresh producer id.
        this.#producer = this.#newProducer();
        void producer.close();
      }
      for (const w of p.waiters) {
        w.left--;
        if (!w.failed) {
          w.failed = true;
          w.reject(e);
        }
      }
    }
  }

  /**
   * Dead letters to Kafka (`deadLetter.sink` in a pipeline): the original payload as the value, the reason, stage,
   * record reference and origin pipeline in headers, keyed by the record reference. Resolves when acknowledged.
   */
  async writeDeadLetters(entries: readonly DeadLetterInput[]): Promise<void> {
    const topic = this.#o.topic;
    if (!topic) throw new ConfigError('kafka dead letters need a single `topic`');
    const n = this.#partitions.get(topic)!;
    const messages: OutMessage[] = entries.map((d) => {
      const key = Buffer.from(d.ref);
      const headers: Record<string, Buffer> = {
        [HEADERS.dlqReason]: Buffer.from(d.reason),
        [HEADERS.dlqStage]: Buffer.from(d.stage),
        [HEADERS.dlqRef]: Buffer.from(d.ref),
        [HEADERS.dlqOrigin]: Buffer.from(this.#ctx.pipeline),
        [HEADERS.pipeline]: Buffer.from(this.#ctx.pipeline),
      };
      if (d.error) headers['stockbridge.dlq.error'] = Buffer.from(JSON.stringify(d.error));
      if (d.meta) headers['stockbridge.dlq.meta'] = Buffer.from(JSON.stringify(d.meta));
      const value = d.payload === undefined ? Buffer.alloc(0) : typeof d.payload === 'string' ? Buffer.from(d.payload) : Buffer.from(d.payload);
      return { topic, partition: partitionFor(key, n), key, value, headers };
    });
    try {
      await this.#producer!.send(messages);
    } catch (err) {
      throw sendError(err, [topic]);
    }
  }

  async flush(): Promise<void> {
    this.#cut();
    if (this.#inFlight === 0 && !this.#queue.length) return;
    await new Promise<void>((r) => this.#idle.push(r));
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    await this.#producer?.close();
  }
}

/** Errors at start: clear ConfigErrors for a missing topic or bad credentials. */
export function startError(err: unknown): Error {
  if (err instanceof ConfigError) return err;
  const e = classify(err, 'kafka');
  if (e.kind === 'auth') return new ConfigError(`kafka authentication failed: ${e.message} (check sasl/tls settings and credentials)`);
  return e;
}

/** Maps a produce failure to what the engine does with it: TransientError → retry; anything else stops the pipeline. */
export function sendError(err: unknown, topics: string[]): Error {
  const e = err instanceof KafkaError ? err : classify(err, 'produce failed');
  switch (e.kind) {
    case 'transient':
    case 'rebalance':
      return new TransientError(e.message, { cause: e });
    case 'unknown-topic':
      return new Error(`kafka topic ${topics.map((t) => `'${t}'`).join(' or ')} does not exist (deleted while running?): ${e.message}`, { cause: e });
    case 'auth':
      return new Error(`kafka authentication/authorization failed: ${e.message}`, { cause: e });
    case 'too-large':
      return new Error(
        `kafka rejected a batch as too large (${e.codes.join(', ')}): lower \`batch.maxBytes\` or raise the topic's max.message.bytes: ${e.message}`,
        { cause: e },
      );
    default:
      return new Error(e.message, { cause: e });
  }
}
