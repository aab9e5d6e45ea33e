/**
 * `kafka` sink and source: the event backbone. See README.md for options, delivery guarantees, rebalancing,
 * headers, formats, errors and the client choice (with figures).
 */
import type { JsonSchema, SinkSpec, SourceSpec } from '../../runtime/contracts/spi.ts';
import type { KafkaClientFactory } from './adapter.ts';
import { type ClientName, connectionSchema, resolveConnection, topicCreationSchema } from './options.ts';
import { KafkaSink, type KafkaSinkOptions } from './sink.ts';
import { KafkaSource, type KafkaSourceOptions } from './source.ts';

/** The client library is loaded only when a pipeline uses it (start-up cost of the CLI and of other pipelines). */
export async function kafkaClient(name: ClientName = 'platformatic'): Promise<KafkaClientFactory> {
  if (name === 'kafkajs') return (await import('./kafkajs.ts')).kafkajsClient;
  return (await import('./platformatic.ts')).platformaticClient;
}

const topicName = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,249}$' };

export const kafkaSinkOptions: JsonSchema = {
  required: ['brokers'],
  properties: {
    ...connectionSchema,
    topic: { ...topicName, description: 'Topic for every event of the pipeline.' },
    topics: {
      type: 'object',
      description: 'Topic by event type (`SALE: inventory.sales`), with `default` for the other types.',
      propertyNames: { enum: ['RECEIPT', 'SALE', 'RETURN', 'ADJUSTMENT', 'TRANSFER_OUT', 'TRANSFER_IN', 'COUNT', 'SNAPSHOT', 'default'] },
      additionalProperties: topicName,
      minProperties: 1,
    },
    key: {
      type: 'string',
      default: 'sku',
      pattern: '^(none|(sku|locationId|eventId|eventType|gtin|unitOfMeasure)(\\|(sku|locationId|eventId|eventType|gtin|unitOfMeasure))*)$',
      description:
        'Record key: event fields joined with `|` (`sku` keeps every event of a SKU in order in one partition; `locationId|sku`), or `none`.',
    },
    format: {
      enum: ['avro', 'json'],
      default: 'avro',
      description:
        '`avro`: Avro binary of the canonical schema, in the Confluent wire format when `schemaRegistry` is set, else raw with a CRC-64-AVRO fingerprint header; `json`: JSON text.',
    },
    schemaRegistry: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      description: 'Confluent-compatible Schema Registry: the canonical schema is registered under `<topic>-value`.',
      properties: {
        url: { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        timeoutMs: { type: 'integer', minimum: 100, default: 10_000 },
        subjectStrategy: { enum: ['topic', 'record'], default: 'topic', description: '`topic`: `<topic>-value`; `record`: the record full name.' },
      },
    },
    compression: {
      enum: ['none', 'gzip', 'snappy', 'lz4', 'zstd'],
      default: 'none',
      description: 'Record batch compression (both clients support all five).',
    },
    batch: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        lingerMs: { type: 'integer', minimum: 0, default: 5, description: 'Wait this long for more events before sending.' },
        maxMessages: { type: 'integer', minimum: 1, default: 10_000, description: 'Send when this many events are buffered.' },
        maxBytes: { type: 'integer', minimum: 1024, default: 900_000, description: 'Send when this many bytes are buffered (keep under max.message.bytes).' },
      },
    },
    maxInFlight: { type: 'integer', minimum: 1, maximum: 5, description: 'Produce requests in flight (default 5; kafkajs: 1).' },
    oversized: {
      enum: ['dead-letter', 'fail'],
      default: 'dead-letter',
      description: 'An event larger than the topic’s max.message.bytes: to the dead-letter store, or stop the pipeline.',
    },
    lineageHeaders: {
      enum: ['full', 'minimal'],
      default: 'full',
      description:
        '`full`: event id, event type, source system, record reference, pipeline and mapping headers on every record; `minimal`: the event id only (each header costs producer and consumer time).',
    },
    createTopics: topicCreationSchema,
  },
};

export const kafkaSink: SinkSpec<KafkaSinkOptions> = {
  kind: 'sink',
  name: 'kafka',
  summary: 'Canonical events to Kafka (Avro/Confluent, Avro + fingerprint, or JSON); idempotent producer, acks=all.',
  delivery: 'at-least-once: write() resolves when Kafka acknowledged every event (acks=all, idempotent producer); re-sent events carry the same eventId',
  options: kafkaSinkOptions,
  example:
    // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the pipeline loader's ${env:…} syntax
    'sinks:\n  - type: kafka\n    brokers: ["${env:KAFKA_BROKERS}"]\n    topic: inventory.events\n    key: sku\n    format: avro\n    compression: zstd',
  async create(options, ctx) {
    const conn = resolveConnection(options, ctx.baseDir, ctx.pipeline);
    const sink = new KafkaSink(options, conn, await kafkaClient(options.client), ctx.sink);
    await sink.init();
    return sink;
  },
};

export const kafkaSourceOptions: JsonSchema = {
  required: ['brokers'],
  properties: {
    ...connectionSchema,
    client: {
      enum: ['platformatic', 'kafkajs'],
      default: 'kafkajs',
      description:
        'Kafka client library. The source defaults to `kafkajs`: it consumed 1.1–2.2× faster than @platformatic/kafka in bench/kafka.bench.ts (see the README); `platformatic` is the maintained one.',
    },
    topic: { ...topicName, description: 'Topic to read.' },
    topics: { type: 'array', minItems: 1, items: topicName, description: 'Several topics.' },
    groupId: { type: 'string', description: 'Consumer group (default `stockbridge-<pipeline>`); processes of the same pipeline share it.' },
    startFrom: {
      type: 'string',
      default: 'earliest',
      description:
        'Where a partition without a committed offset starts: `earliest`, `latest`, or an ISO-8601 timestamp (first record at or after it).',
    },
    resetOffsets: {
      type: 'boolean',
      default: false,
      description: 'Replay: move the group to `startFrom` at start even where it has committed offsets (no other member may run).',
    },
    sessionTimeoutMs: { type: 'integer', minimum: 1000, default: 30_000 },
    heartbeatIntervalMs: { type: 'integer', minimum: 100, default: 3_000 },
    rebalanceTimeoutMs: { type: 'integer', minimum: 1000, default: 60_000 },
    maxWaitMs: { type: 'integer', minimum: 10, default: 500, description: 'Longest fetch wait on an idle topic.' },
    maxBytes: { type: 'integer', minimum: 1024, default: 10_485_760, description: 'Max bytes per fetch.' },
    bufferMessages: { type: 'integer', minimum: 100, default: 20_000, description: 'Messages fetched ahead of the engine.' },
    valueFormat: {
      enum: ['mapping', 'avro'],
      default: 'mapping',
      description:
        '`mapping`: the mapping’s input format decodes each value (JSON, CSV, `avro`, …); `avro`: the source decodes canonical Avro itself (Confluent framing, fingerprint header or raw), e.g. for `mapping: identity`.',
    },
    schemaRegistry: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      description: 'Schema Registry resolving Confluent schema ids (with `valueFormat: avro`).',
      properties: { url: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' }, timeoutMs: { type: 'integer', minimum: 100 } },
    },
    onceIdleMs: {
      type: 'integer',
      minimum: 100,
      default: 10_000,
      description: '--once: also end when nothing arrived for this long (offset gaps left by compaction or transactions).',
    },
  },
};

export const kafkaSource: SourceSpec<KafkaSourceOptions> = {
  kind: 'source',
  name: 'kafka',
  summary: 'Consumer group member: message payloads decoded by the mapping’s format; offsets committed after every sink acked.',
  delivery: 'at-least-once: offsets committed per partition only after every sink acknowledged; a rebalance or crash re-delivers what was in flight',
  options: kafkaSourceOptions,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the pipeline loader's ${env:…} syntax
  example: 'source:\n  type: kafka\n  brokers: ["${env:KAFKA_BROKERS}"]\n  topic: inventory.events\n  startFrom: earliest',
  async create(options, ctx) {
    const conn = resolveConnection(options, ctx.baseDir, ctx.pipeline);
    const source = new KafkaSource(options, conn, await kafkaClient(options.client ?? 'kafkajs'), ctx.source);
    await source.init();
    return source;
  },
};
