/**
 * The one small interface the Kafka sink, source and dead-letter writer use, with two implementations:
 * `platformatic.ts` (@platformatic/kafka, the default) and `kafkajs.ts`. Everything Stockbridge-specific (value
 * encoding, keys, partitioning, lineage headers, offsets bookkeeping, error policy) lives above this line, so the
 * two clients behave the same and can be benchmarked against each other.
 */
import type { Compression, ResolvedConnection } from './options.ts';

export interface OutMessage {
  topic: string;
  /** Explicit partition: the sink partitions itself (murmur2 of the key, like the Java client). */
  partition: number;
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, Buffer>;
}

export interface InMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer]>;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicOffset extends TopicPartition {
  offset: bigint;
}

export interface TopicInfo {
  partitions: number;
  configs: Record<string, string>;
}

export interface ProducerSettings {
  compression: Compression;
  /** Max requests in flight per broker connection (the idempotent producer keeps order up to 5). */
  maxInFlight: number;
}

export interface ProducerAdapter {
  connect(): Promise<void>;
  /**
   * Produce with acks=all on the idempotent producer; resolves when the broker acknowledged every message.
   * Rejects with a KafkaError (see classify()).
   */
  send(messages: OutMessage[]): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerSettings {
  groupId: string;
  topics: string[];
  /** Where a partition without a committed offset starts. */
  fallback: 'earliest' | 'latest';
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitMs: number;
  maxBytes: number;
  /** Messages buffered ahead of the engine (backpressure bound). */
  highWaterMark: number;
}

export interface AssignmentChange {
  assigned: TopicPartition[];
  revoked: TopicPartition[];
}

export interface ConsumerAdapter {
  /** Join the group and start fetching. */
  start(onAssignment: (change: AssignmentChange) => void): Promise<void>;
  /** Up to `max` messages, in offset order per partition; waits at most `waitMs` for the first one. */
  poll(max: number, waitMs: number): Promise<InMessage[]>;
  /** Partitions currently assigned to this member. */
  assignment(): TopicPartition[];
  /** Commit `offset` = next offset to read, per partition. Rejects with a KafkaError. */
  commit(offsets: TopicOffset[]): Promise<void>;
  /** Committed offsets of the group for these partitions (-1 = none). */
  committed(partitions: TopicPartition[]): Promise<TopicOffset[]>;
  close(): Promise<void>;
}

export interface AdminAdapter {
  /** Partition count and configs of each topic; null when the topic does not exist. */
  describeTopics(topics: string[]): Promise<Map<string, TopicInfo | null>>;
  createTopic(topic: string, partitions: number, replicationFactor: number, configs: Record<string, string>): Promise<void>;
  /** Offsets per partition: `earliest`, `latest` (the end offset), or the first offset at/after a timestamp (ms). */
  listOffsets(topic: string, at: 'earliest' | 'latest' | number): Promise<TopicOffset[]>;
  /** Committed offsets of a group (-1 = none). */
  groupOffsets(groupId: string, topic: string): Promise<TopicOffset[]>;
  /** Set a group's offsets; the group must have no active member. */
  setGroupOffsets(groupId: string, offsets: TopicOffset[]): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaClientFactory {
  readonly name: string;
  producer(conn: ResolvedConnection, settings: ProducerSettings): ProducerAdapter;
  consumer(conn: ResolvedConnection, settings: ConsumerSettings): ConsumerAdapter;
  admin(conn: ResolvedConnection): AdminAdapter;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors: both clients' errors are classified into the few kinds the connectors act on.

export type KafkaErrorKind =
  /** Broker down, leader moving, timeout: retry later. */
  | 'transient'
  | 'unknown-topic'
  | 'auth'
  | 'too-large'
  /** Group membership changed under a commit (rebalance): the positions are dropped, records are re-delivered. */
  | 'rebalance'
  | 'fatal';

const CODE_KIND: Record<string, KafkaErrorKind> = {
  UNKNOWN_TOPIC_OR_PARTITION: 'unknown-topic',
  UNKNOWN_TOPIC_ID: 'unknown-topic',
  TOPIC_AUTHORIZATION_FAILED: 'auth',
  GROUP_AUTHORIZATION_FAILED: 'auth',
  CLUSTER_AUTHORIZATION_FAILED: 'auth',
  SASL_AUTHENTICATION_FAILED: 'auth',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'auth',
  UNSUPPORTED_SASL_MECHANISM: 'auth',
  ILLEGAL_SASL_STATE: 'auth',
  MESSAGE_TOO_LARGE: 'too-large',
  RECORD_LIST_TOO_LARGE: 'too-large',
  REBALANCE_IN_PROGRESS: 'rebalance',
  ILLEGAL_GENERATION: 'rebalance',
  UNKNOWN_MEMBER_ID: 'rebalance',
  FENCED_INSTANCE_ID: 'rebalance',
  STALE_MEMBER_EPOCH: 'rebalance',
  INVALID_RECORD: 'fatal',
  CORRUPT_MESSAGE: 'fatal',
  INVALID_REQUIRED_ACKS: 'fatal',
  POLICY_VIOLATION: 'fatal',
  INVALID_CONFIG: 'fatal',
  UNSUPPORTED_VERSION: 'fatal',
  UNSUPPORTED_COMPRESSION_TYPE: 'fatal',
  INVALID_PRODUCER_EPOCH: 'transient',
  LEADER_NOT_AVAILABLE: 'transient',
  NOT_LEADER_OR_FOLLOWER: 'transient',
  NOT_LEADER_FOR_PARTITION: 'transient',
  REQUEST_TIMED_OUT: 'transient',
  NETWORK_EXCEPTION: 'transient',
  BROKER_NOT_AVAILABLE: 'transient',
  NOT_ENOUGH_REPLICAS: 'transient',
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: 'transient',
  COORDINATOR_NOT_AVAILABLE: 'transient',
  COORDINATOR_LOAD_IN_PROGRESS: 'transient',
  NOT_COORDINATOR: 'transient',
  KAFKA_STORAGE_ERROR: 'transient',
  FENCED_LEADER_EPOCH: 'transient',
  UNKNOWN_LEADER_EPOCH: 'transient',
  OFFSET_NOT_AVAILABLE: 'transient',
  THROTTLING_QUOTA_EXCEEDED: 'transient',
  CONCURRENT_TRANSACTIONS: 'transient',
  OUT_OF_ORDER_SEQUENCE_NUMBER: 'transient',
};

export class KafkaError extends Error {
  override readonly name = 'KafkaError';
  readonly kind: KafkaErrorKind;
  /** Kafka protocol error codes found in the client's error. */
  readonly codes: string[];
  constructor(kind: KafkaErrorKind, message: string, codes: string[], cause?: unknown) {
    super(message, { cause });
    this.kind = kind;
    this.codes = codes;
  }
}

/** Protocol error codes (`UNKNOWN_TOPIC_OR_PARTITION`, …) anywhere in a client error (nested, aggregated). */
export function errorCodes(err: unknown, out: string[] = [], depth = 0): string[] {
  if (!err || typeof err !== 'object' || depth > 6) return out;
  const e = err as Record<string, unknown>;
  for (const k of ['apiId', 'type']) {
    const v = e[k];
    if (typeof v === 'string' && /^[A-Z_]+$/.test(v) && !out.includes(v)) out.push(v);
  }
  if (Array.isArray(e.errors)) for (const x of e.errors) errorCodes(x, out, depth + 1);
  if (e.cause) errorCodes(e.cause, out, depth + 1);
  if (e.originalError) errorCodes(e.originalError, out, depth + 1);
  return out;
}

const AUTH_TEXT = /SASL|[Aa]uthenticat|credentials/;
const NETWORK_TEXT = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|socket|[Cc]onnection|[Tt]imeout|timed out|closed|not available|[Nn]o broker|[Nn]etwork|[Ll]eader/;

/** Turns any client error into a KafkaError with the kind the connectors act on. */
export function classify(err: unknown, what: string): KafkaError {
  if (err instanceof KafkaError) return err;
  const codes = errorCodes(err);
  const message = messageOf(err);
  let kind: KafkaErrorKind | undefined;
  for (const c of codes) {
    const k = CODE_KIND[c];
    if (k && (kind === undefined || rank(k) > rank(kind))) kind = k;
  }
  const e = err as { code?: string; name?: string; retriable?: boolean; canRetry?: boolean };
  if (!kind) {
    if (e?.code === 'PLT_KFK_AUTHENTICATION' || e?.name === 'KafkaJSSASLAuthenticationError' || (AUTH_TEXT.test(message) && !NETWORK_TEXT.test(message)))
      kind = 'auth';
    else if (codes.length === 0 || e?.retriable || e?.canRetry || NETWORK_TEXT.test(message)) kind = 'transient';
    else kind = 'fatal';
  }
  const codeText = codes.length ? ` [${codes.join(', ')}]` : '';
  return new KafkaError(kind, `${what}: ${message}${codeText}`, codes, err);
}

/** When several codes are present, the most specific (least retryable) wins. */
function rank(k: KafkaErrorKind): number {
  return { transient: 0, rebalance: 1, fatal: 2, 'too-large': 3, 'unknown-topic': 4, auth: 5 }[k];
}

export function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts = [err.message];
  const nested = (err as { errors?: unknown[] }).errors;
  if (Array.isArray(nested) && nested.length) {
    const first = nested[0];
    const m = first instanceof Error ? first.message : String(first);
    if (m && !parts.includes(m)) parts.push(m);
  }
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && !parts.includes(cause.message)) parts.push(cause.message);
  return parts.filter(Boolean).join(': ');
}
