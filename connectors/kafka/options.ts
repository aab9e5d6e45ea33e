/**
 * Options shared by the Kafka sink, source and dead-letter writer: brokers, TLS, SASL, client choice, topic
 * creation. Secrets come from `${env:…}` / `${file:…}` substitutions (the pipeline loader resolves and masks
 * them); TLS material is given as file paths, read here.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, type JsonSchema } from '../../runtime/contracts/spi.ts';

export type ClientName = 'platformatic' | 'kafkajs';
export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface TlsOptions {
  /** CA bundle (PEM file). */
  ca?: string;
  /** Client certificate (PEM file), for mutual TLS. */
  cert?: string;
  /** Client key (PEM file). */
  key?: string;
  passphrase?: string;
  /** Verify the broker certificate (default true). */
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface SaslOptions {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

export interface ConnectionOptions {
  brokers: string[];
  clientId?: string;
  client: ClientName;
  tls?: boolean | TlsOptions;
  sasl?: SaslOptions;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

export interface TopicCreation {
  partitions: number;
  replicationFactor: number;
  retentionMs?: number;
  cleanupPolicy?: 'delete' | 'compact' | 'compact,delete';
  configs?: Record<string, string>;
}

/** The connection material resolved for a client: TLS files read, defaults filled. */
export interface ResolvedConnection {
  brokers: string[];
  clientId: string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; passphrase?: string; rejectUnauthorized: boolean; servername?: string };
  sasl?: SaslOptions;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

export const connectionSchema: Record<string, JsonSchema> = {
  brokers: {
    type: 'array',
    minItems: 1,
    items: { type: 'string', pattern: '^[^\\s,:]+:\\d+(,[^\\s,:]+:\\d+)*$' },
    // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the pipeline loader's ${env:…} syntax
    description: 'Bootstrap brokers, `host:port` (an entry may hold a comma-separated list, e.g. from `${env:KAFKA_BROKERS}`).',
  },
  clientId: { type: 'string', description: 'Kafka client id (default `stockbridge-<pipeline>`).' },
  client: {
    enum: ['platformatic', 'kafkajs'],
    default: 'platformatic',
    description: 'Kafka client library: `platformatic` (@platformatic/kafka, maintained; the faster producer, default of the sink) or `kafkajs`.',
  },
  tls: {
    description: '`true` for TLS with the system CAs, or the TLS material as PEM file paths (relative to the pipeline file).',
    oneOf: [
      { type: 'boolean' },
      {
        type: 'object',
        additionalProperties: false,
        properties: {
          ca: { type: 'string', description: 'CA bundle (PEM file).' },
          cert: { type: 'string', description: 'Client certificate (PEM file) for mutual TLS.' },
          key: { type: 'string', description: 'Client private key (PEM file).' },
          // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the pipeline loader's ${env:…} syntax
          passphrase: { type: 'string', description: 'Key passphrase (use `${env:…}`).' },
          rejectUnauthorized: { type: 'boolean', default: true, description: 'Verify the broker certificate.' },
          servername: { type: 'string', description: 'SNI server name.' },
        },
      },
    ],
  },
  sasl: {
    type: 'object',
    additionalProperties: false,
    required: ['mechanism', 'username', 'password'],
    properties: {
      mechanism: { enum: ['plain', 'scram-sha-256', 'scram-sha-512'] },
      username: { type: 'string' },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the pipeline loader's ${env:…} syntax
      password: { type: 'string', description: 'Use `${env:KAFKA_PASSWORD}` or `${file:/run/secrets/kafka}`.' },
    },
  },
  connectTimeoutMs: { type: 'integer', minimum: 100, default: 10_000 },
  requestTimeoutMs: { type: 'integer', minimum: 100, default: 30_000 },
};

export const topicCreationSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Create missing topics at start with these settings (default: a missing topic is an error).',
  properties: {
    partitions: { type: 'integer', minimum: 1, default: 6 },
    replicationFactor: { type: 'integer', minimum: 1, default: 3 },
    retentionMs: { type: 'integer', minimum: -1, description: '`retention.ms` (-1 = forever).' },
    cleanupPolicy: { enum: ['delete', 'compact', 'compact,delete'], description: '`cleanup.policy`.' },
    configs: { type: 'object', additionalProperties: { type: 'string' }, description: 'Any other topic configs.' },
  },
};

function readPem(baseDir: string, path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  const abs = resolve(baseDir, path);
  try {
    return readFileSync(abs);
  } catch (err) {
    throw new ConfigError(`kafka tls.${what}: cannot read ${abs}: ${(err as Error).message}`);
  }
}

export function resolveConnection(o: ConnectionOptions, baseDir: string, pipeline: string): ResolvedConnection {
  let tls: ResolvedConnection['tls'];
  if (o.tls === true) tls = { rejectUnauthorized: true };
  else if (o.tls && typeof o.tls === 'object') {
    tls = {
      ca: readPem(baseDir, o.tls.ca, 'ca'),
      cert: readPem(baseDir, o.tls.cert, 'cert'),
      key: readPem(baseDir, o.tls.key, 'key'),
      passphrase: o.tls.passphrase,
      rejectUnauthorized: o.tls.rejectUnauthorized ?? true,
      servername: o.tls.servername,
    };
  }
  return {
    brokers: o.brokers.flatMap((b) => b.split(',')).filter(Boolean),
    clientId: o.clientId ?? `stockbridge-${pipeline}`,
    tls,
    sasl: o.sasl,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
  };
}

/** Topic configs for creation, from the friendly options. */
export function topicConfigs(c: TopicCreation): Record<string, string> {
  const out: Record<string, string> = { ...(c.configs ?? {}) };
  if (c.retentionMs !== undefined) out['retention.ms'] = String(c.retentionMs);
  if (c.cleanupPolicy) out['cleanup.policy'] = c.cleanupPolicy;
  return out;
}
