/**
 * Kafka connector pieces that need no broker: partitioning (Java murmur2), keys, headers, fingerprints, the avro
 * format's framings, error classification, option validation.
 */
import { describe, expect, it } from 'vitest';
import { classify, KafkaError } from '../../../connectors/kafka/adapter.ts';
import {
  frameWithFingerprint,
  HEADERS,
  keyFunction,
  lineageHeaders,
  murmur2,
  partitionFor,
  valueEncoder,
} from '../../../connectors/kafka/codec.ts';
import { kafkaSink, kafkaSource } from '../../../connectors/kafka/index.ts';
import { resolveConnection, topicConfigs } from '../../../connectors/kafka/options.ts';
import { sendError } from '../../../connectors/kafka/sink.ts';
import { ajv } from '../../../runtime/config/pipeline.ts';
import { encodeEvent, INVENTORY_EVENT_AVSC } from '../../../runtime/contracts/avro.ts';
import type { InventoryEvent } from '../../../runtime/contracts/event.ts';
import { TransientError } from '../../../runtime/contracts/spi.ts';
import {
  avroFormat,
  CANONICAL_FINGERPRINT,
  confluentHeader,
  rabin64,
  schemaFingerprint,
} from '../../../runtime/formats/avro.ts';

const event: InventoryEvent = {
  schemaVersion: 1,
  eventId: '6f1d3c1e-8a52-5d0e-9b7a-3f1f4c2a9e10',
  eventType: 'SALE',
  sku: 'SKU000123',
  gtin: null,
  locationId: 'FR-STORE-0001',
  locationType: 'STORE',
  quantity: '-2.000',
  unitOfMeasure: 'EA',
  occurredAt: '2026-01-05T08:15:02.123456Z',
  references: null,
  source: { system: 'store-pos', connector: 'file', recordRef: 'a.csv:2', receivedAt: '2026-11-21T10:00:00.000Z', pipeline: 'p', mapping: 'store-sales@1' },
  attributes: { price: '12.99' },
};

describe('partitioning', () => {
  it('murmur2 matches org.apache.kafka.common.utils.Utils.murmur2 (values from the Java client)', () => {
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('abc'))).toBe(479470107);
    expect(murmur2(Buffer.from('SKU000123'))).toBe(1808530271);
    expect(murmur2(Buffer.from('FR-STORE-0001|SKU1'))).toBe(-202331954);
  });

  it('partition = toPositive(murmur2(key)) % partitions, as the Java DefaultPartitioner', () => {
    expect(partitionFor(Buffer.from('SKU000123'), 6)).toBe(5);
    expect(partitionFor(Buffer.from('abc'), 6)).toBe(3);
    expect(partitionFor(Buffer.from('FR-STORE-0001|SKU1'), 6)).toBe(0);
  });

  it('keys from event fields', () => {
    expect(keyFunction('sku')!(event)!.toString()).toBe('SKU000123');
    expect(keyFunction('locationId|sku')!(event)!.toString()).toBe('FR-STORE-0001|SKU000123');
    expect(keyFunction('none')).toBeNull();
    expect(() => keyFunction('store')).toThrow(/key field 'store'/);
  });
});

describe('values and headers', () => {
  it('CRC-64-AVRO fingerprints match the Avro specification and fastavro', () => {
    expect(rabin64(Buffer.from('"null"'))).toBe(7195948357588979594n);
    // fastavro.schema.fingerprint(to_parsing_canonical_form(schema), 'CRC-64-AVRO') of the canonical schema
    expect(CANONICAL_FINGERPRINT.toString('hex')).toBe('b0730771d166044d');
    expect(schemaFingerprint(INVENTORY_EVENT_AVSC)).toEqual(CANONICAL_FINGERPRINT);
  });

  it('lineage headers carry event id, type, source system, record, pipeline and mapping', () => {
    const h = lineageHeaders(event, 'fallback', { x: Buffer.from('1') });
    expect(Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.toString()]))).toEqual({
      x: '1',
      [HEADERS.eventId]: event.eventId,
      [HEADERS.eventType]: 'SALE',
      [HEADERS.sourceSystem]: 'store-pos',
      [HEADERS.recordRef]: 'a.csv:2',
      [HEADERS.pipeline]: 'p',
      [HEADERS.mapping]: 'store-sales@1',
    });
  });

  it('avro values without a registry carry the fingerprint header; json values are JSON', () => {
    const a = valueEncoder('avro', undefined);
    expect(a.headers[HEADERS.fingerprint]).toEqual(CANONICAL_FINGERPRINT);
    expect(a.encode(event, 't')).toEqual(encodeEvent(event));
    const j = valueEncoder('json', undefined);
    expect(JSON.parse(j.encode(event, 't').toString())).toEqual(event);
  });
});

describe('avro input format', () => {
  const fmt = avroFormat.bind({}, process.cwd());
  const body = encodeEvent(event);

  it('decodes raw, single-object (fingerprint header framed by the source) and rejects unknown framing', () => {
    expect(fmt.decodeMessage(body, 'r')[0].value).toMatchObject({ eventId: event.eventId, quantity: '-2.000', occurredAt: event.occurredAt });
    const framed = frameWithFingerprint(body, CANONICAL_FINGERPRINT);
    expect(framed.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]));
    expect(fmt.decodeMessage(framed, 'r')[0].value).toMatchObject({ sku: 'SKU000123', attributes: { price: '12.99' } });
    const wrongFp = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 7), body]);
    expect(fmt.decodeMessage(wrongFp, 'r')[0].error?.reason).toMatch(/unknown writer schema fingerprint/);
  });

  it('Confluent framing without a registry is a clear reject; truncated records are rejects', () => {
    const conf = Buffer.concat([confluentHeader(42), body]);
    expect(fmt.decodeMessage(conf, 'r')[0].error?.reason).toMatch(/schema id 42.*no schemaRegistry/);
    expect(fmt.decodeMessage(body.subarray(0, 20), 'r')[0].error?.stage).toBe('decode');
  });
});

describe('errors', () => {
  it('classifies protocol codes from both clients', () => {
    expect(classify(Object.assign(new Error('x'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' }), 'p').kind).toBe('unknown-topic');
    expect(classify(Object.assign(new Error('x'), { apiId: 'MESSAGE_TOO_LARGE' }), 'p').kind).toBe('too-large');
    expect(classify(new AggregateError([Object.assign(new Error('y'), { apiId: 'LEADER_NOT_AVAILABLE' })], 'z'), 'p').kind).toBe('transient');
    expect(classify(new Error('connect ECONNREFUSED 127.0.0.1:1'), 'p').kind).toBe('transient');
    expect(classify(Object.assign(new Error('SASL SCRAM authentication failed'), { name: 'KafkaJSSASLAuthenticationError' }), 'p').kind).toBe('auth');
    expect(classify(Object.assign(new Error('x'), { apiId: 'REBALANCE_IN_PROGRESS' }), 'p').kind).toBe('rebalance');
  });

  it('the sink maps kinds to retry (TransientError) or stop', () => {
    expect(sendError(new KafkaError('transient', 'down', []), ['t'])).toBeInstanceOf(TransientError);
    expect(sendError(new KafkaError('unknown-topic', 'gone', []), ['t']).message).toMatch(/topic 't' does not exist/);
    expect(sendError(new KafkaError('too-large', 'big', ['MESSAGE_TOO_LARGE']), ['t']).message).toMatch(/batch.maxBytes/);
    expect(sendError(new KafkaError('auth', 'no', []), ['t'])).not.toBeInstanceOf(TransientError);
  });
});

describe('options', () => {
  const sinkValidate = ajv.compile({ type: 'object', additionalProperties: false, ...kafkaSink.options });
  const sourceValidate = ajv.compile({ type: 'object', additionalProperties: false, ...kafkaSource.options });

  it('fills defaults: platformatic client, sku key, avro, no compression', () => {
    const o: Record<string, unknown> = { brokers: ['k:9092'], topic: 'inventory.events' };
    expect(sinkValidate(o)).toBe(true);
    expect(o).toMatchObject({ client: 'platformatic', key: 'sku', format: 'avro', compression: 'none', oversized: 'dead-letter' });
    const s: Record<string, unknown> = { brokers: ['k:9092'], topic: 'inventory.events' };
    expect(sourceValidate(s)).toBe(true);
    expect(s).toMatchObject({ startFrom: 'earliest', resetOffsets: false, valueFormat: 'mapping' });
  });

  it('rejects bad keys, routes and SASL mechanisms', () => {
    expect(sinkValidate({ brokers: ['k:9092'], topic: 't', key: 'store' })).toBe(false);
    expect(sinkValidate({ brokers: ['k:9092'], topics: { SOLD: 't' } })).toBe(false);
    expect(sinkValidate({ brokers: ['k:9092'], topic: 't', sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } })).toBe(false);
    expect(sinkValidate({ brokers: ['k:9092'], topic: 't', sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } })).toBe(true);
  });

  it('TLS material is read from files; topic settings become configs', () => {
    expect(() => resolveConnection({ brokers: ['k:1'], client: 'platformatic', tls: { ca: 'nope.pem' }, connectTimeoutMs: 1, requestTimeoutMs: 1 }, '/tmp', 'p')).toThrow(
      /tls.ca: cannot read/,
    );
    expect(resolveConnection({ brokers: ['k:1'], client: 'kafkajs', tls: true, connectTimeoutMs: 1, requestTimeoutMs: 1 }, '/tmp', 'p').tls).toEqual({
      rejectUnauthorized: true,
    });
    expect(topicConfigs({ partitions: 3, replicationFactor: 1, retentionMs: 1000, cleanupPolicy: 'compact', configs: { 'min.insync.replicas': '2' } })).toEqual({
      'min.insync.replicas': '2',
      'retention.ms': '1000',
      'cleanup.policy': 'compact',
    });
  });
});
