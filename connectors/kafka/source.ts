/**
 * The Kafka source: a consumer group member. Yields message payloads (decoded by the engine with the mapping's
 * format) and commits, per partition, the highest offset + 1 whose batch every sink acknowledged — the engine
 * calls commit() in source order only for acknowledged batches, so nothing is committed past an unacked record.
 *
 * Rebalancing: records of partitions revoked from this member are no longer yielded (queued ones are dropped),
 * and positions of revoked partitions are not committed by this member: the new owner re-reads them from the
 * group's last committed offset (at-least-once: what was in flight here can be delivered twice, with the same
 * event ids). A commit rejected because the group is rebalancing is dropped the same way.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, Source, SourceBatch, SourceContext, SourceRecord } from '../../runtime/contracts/spi.ts';
import { avroFormat, CANONICAL_FINGERPRINT, type PreparingFormat, type RegistryOptions } from '../../runtime/formats/avro.ts';
import {
  type AssignmentChange,
  type ConsumerAdapter,
  classify,
  type InMessage,
  type KafkaClientFactory,
  KafkaError,
  type TopicOffset,
} from './adapter.ts';
import { frameWithFingerprint, HEADERS } from './codec.ts';
import type { ConnectionOptions, ResolvedConnection } from './options.ts';
import { startError } from './sink.ts';
import { ensureTopics } from './topics.ts';

export interface KafkaSourceOptions extends ConnectionOptions {
  topic?: string;
  topics?: string[];
  groupId?: string;
  startFrom: string;
  resetOffsets: boolean;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitMs: number;
  maxBytes: number;
  bufferMessages: number;
  onceIdleMs: number;
  valueFormat: 'mapping' | 'avro';
  schemaRegistry?: RegistryOptions;
}

/** Next offset to read per `topic/partition`, for the records of one batch. */
export interface KafkaPosition {
  offsets: Map<string, TopicOffset>;
}

const tp = (topic: string, partition: number) => `${topic}/${partition}`;

export class KafkaSource implements Source<KafkaPosition> {
  readonly #o: KafkaSourceOptions;
  readonly #conn: ResolvedConnection;
  readonly #client: KafkaClientFactory;
  readonly #ctx: SourceContext;
  readonly #log: Logger;
  readonly #topics: string[];
  readonly #groupId: string;
  #consumer: ConsumerAdapter | undefined;
  /** --once: end offsets observed at start. */
  #end = new Map<string, bigint>();
  /** --once: next offset to read per assigned partition (from records seen or the committed offset). */
  #next = new Map<string, bigint>();
  #joined = false;
  #joinedAt = 0;
  #closed = false;
  /** valueFormat: avro — the source decodes canonical Avro itself and hands decoded values to the mapping. */
  readonly #avro: PreparingFormat | undefined;

  constructor(o: KafkaSourceOptions, conn: ResolvedConnection, client: KafkaClientFactory, ctx: SourceContext) {
    this.#o = o;
    this.#conn = conn;
    this.#client = client;
    this.#ctx = ctx;
    this.#log = ctx.log;
    const topics = o.topics ?? (o.topic ? [o.topic] : []);
    if (!topics.length) throw new Error('kafka source: `topic` or `topics` is required');
    this.#topics = topics;
    this.#groupId = o.groupId ?? `stockbridge-${ctx.pipeline}`;
    if (o.valueFormat === 'avro')
      this.#avro = avroFormat.bind(o.schemaRegistry ? { schemaRegistry: o.schemaRegistry } : {}, process.cwd()) as PreparingFormat;
  }

  get groupId(): string {
    return this.#groupId;
  }

  #startAt(): 'earliest' | 'latest' | number {
    const s = this.#o.startFrom;
    if (s === 'earliest' || s === 'latest') return s;
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) throw new Error(`kafka source: startFrom must be earliest, latest or an ISO-8601 timestamp, got '${s}'`);
    return ms;
  }

  /** Checks topics; records end offsets (--once); applies startFrom timestamps / resetOffsets to the group. */
  async init(): Promise<void> {
    const admin = this.#client.admin(this.#conn);
    try {
      await ensureTopics(admin, this.#topics, undefined, this.#log, 'source');
      const at = this.#startAt();
      for (const topic of this.#topics) {
        if (this.#ctx.once) for (const o of await admin.listOffsets(topic, 'latest')) this.#end.set(tp(topic, o.partition), o.offset);
        if (typeof at !== 'number' && !this.#o.resetOffsets) continue;
        const target = await admin.listOffsets(topic, at);
        if (typeof at === 'number') {
          // Past the last record at that time: start at the end.
          const ends = await admin.listOffsets(topic, 'latest');
          for (const t of target) if (t.offset < 0n) t.offset = ends.find((e) => e.partition === t.partition)?.offset ?? 0n;
        }
        const committed = new Map((await admin.groupOffsets(this.#groupId, topic)).map((o) => [o.partition, o.offset]));
        const apply = this.#o.resetOffsets ? target : target.filter((t) => (committed.get(t.partition) ?? -1n) < 0n);
        if (!apply.length) continue;
        try {
          await admin.setGroupOffsets(this.#groupId, apply);
          this.#log.info({ topic, group: this.#groupId, startFrom: this.#o.startFrom, partitions: apply.length }, 'set the group offsets');
        } catch (err) {
          if (this.#o.resetOffsets)
            throw new Error(`kafka source: cannot reset the offsets of group '${this.#groupId}' (is another member running?): ${(err as Error).message}`);
          this.#log.warn({ err: (err as Error).message }, 'could not set start offsets (the group is active); using its committed offsets');
        }
      }
    } catch (err) {
      throw startError(err);
    } finally {
      await admin.close();
    }
  }

  #newConsumer(): ConsumerAdapter {
    const o = this.#o;
    const startAt = this.#startAt();
    return this.#client.consumer(this.#conn, {
      groupId: this.#groupId,
      topics: this.#topics,
      fallback: startAt === 'latest' ? 'latest' : 'earliest',
      sessionTimeoutMs: o.sessionTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      rebalanceTimeoutMs: o.rebalanceTimeoutMs,
      maxWaitMs: o.maxWaitMs,
      maxBytes: o.maxBytes,
      highWaterMark: o.bufferMessages,
    });
  }

  #onAssignment(c: AssignmentChange): void {
    this.#joined = true;
    this.#joinedAt = performance.now();
    if (c.assigned.length || c.revoked.length)
      this.#log.info(
        { assigned: c.assigned.map((p) => tp(p.topic, p.partition)), revoked: c.revoked.map((p) => tp(p.topic, p.partition)) },
        'partition assignment changed',
      );
    for (const p of c.revoked) this.#next.delete(tp(p.topic, p.partition));
    if (this.#ctx.once && c.assigned.length) {
      const consumer = this.#consumer;
      // Where each new partition resumes: its committed offset (or the start when none).
      void consumer
        ?.committed(c.assigned)
        .then((offsets) => {
          for (const o of offsets) {
            const k = tp(o.topic, o.partition);
            const start = o.offset >= 0n ? o.offset : this.#o.startFrom === 'latest' ? (this.#end.get(k) ?? 0n) : -1n;
            const seen = this.#next.get(k);
            if (seen === undefined || start > seen) this.#next.set(k, start);
          }
        })
        .catch((err: Error) => this.#log.debug({ err: err.message }, 'could not read committed offsets'));
    }
  }

  /** --once: every assigned partition has reached the end offset observed at start. */
  #caughtUp(): boolean {
    if (!this.#joined || !this.#consumer) return false;
    for (const p of this.#consumer.assignment()) {
      const k = tp(p.topic, p.partition);
      const end = this.#end.get(k) ?? 0n;
      if (end === 0n) continue;
      const next = this.#next.get(k);
      if (next === undefined || next < end) return false;
    }
    return true;
  }

  async *batches(): AsyncGenerator<SourceBatch<KafkaPosition>> {
    const { signal, batchSize, once } = this.#ctx;
    const format = this.#ctx.format as Partial<PreparingFormat>;
    let backoff = 500;
    let lastData = performance.now();
    while (!signal.aborted && !this.#closed) {
      if (!this.#consumer) {
        const consumer = this.#newConsumer();
        this.#consumer = consumer;
        try {
          await consumer.start((c) => this.#onAssignment(c));
          backoff = 500;
        } catch (err) {
          await this.#dropConsumer();
          if (!(await this.#retryable(err, 'cannot join the consumer group', backoff))) throw err;
          backoff = Math.min(backoff * 2, 30_000);
          continue;
        }
      }
      let msgs: InMessage[];
      try {
        msgs = await this.#consumer.poll(batchSize, Math.min(this.#o.maxWaitMs, 500));
      } catch (err) {
        await this.#dropConsumer();
        if (!(await this.#retryable(err, 'consumer failed', backoff))) throw err;
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      if (!msgs.length) {
        const idle = performance.now() - Math.max(lastData, this.#joinedAt);
        if (once && (this.#caughtUp() || (this.#joined && idle > this.#o.onceIdleMs))) return;
        continue;
      }
      lastData = performance.now();
      const records: SourceRecord[] = new Array(msgs.length);
      const offsets = new Map<string, TopicOffset>();
      let n = 0;
      for (const m of msgs) {
        const k = tp(m.topic, m.partition);
        const next = m.offset + 1n;
        offsets.set(k, { topic: m.topic, partition: m.partition, offset: next });
        if (once) this.#next.set(k, next);
        if (m.value === null) continue; // tombstone: nothing to map; its offset still commits
        records[n++] = toRecord(m, this.#avro !== undefined);
      }
      records.length = n;
      if (this.#avro) {
        await this.#prepare(this.#avro, records);
        for (const r of records) {
          const d = this.#avro.decodeMessage(r.payload!, r.ref)[0];
          if (d.error) r.error = d.error;
          else r.value = d.value;
        }
      } else if (format.prepareMessages) await this.#prepare(format as PreparingFormat, records);
      yield { records, position: { offsets } };
      if (once && this.#caughtUp()) return;
    }
  }

  /** Registry look-ups for the avro format; retried while the registry is unreachable. */
  async #prepare(format: PreparingFormat, records: SourceRecord[]): Promise<void> {
    let delay = 500;
    for (;;) {
      try {
        await format.prepareMessages(records.map((r) => r.payload));
        return;
      } catch (err) {
        if (this.#ctx.signal.aborted) throw err;
        this.#log.warn({ err: (err as Error).message, retryInMs: delay }, 'schema registry look-up failed; retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  async #retryable(err: unknown, what: string, delay: number): Promise<boolean> {
    const e = err instanceof KafkaError ? err : classify(err, what);
    if (e.kind === 'auth') throw startError(e);
    if (e.kind === 'unknown-topic') throw new Error(`kafka source: topic ${this.#topics.map((t) => `'${t}'`).join(', ')} does not exist: ${e.message}`);
    if (e.kind !== 'transient' && e.kind !== 'rebalance') return false;
    if (this.#ctx.signal.aborted) return true;
    this.#log.warn({ err: e.message, retryInMs: delay }, `${what}; reconnecting`);
    await sleep(delay * (0.8 + Math.random() * 0.4)).catch(() => undefined);
    return true;
  }

  async #dropConsumer(): Promise<void> {
    const c = this.#consumer;
    this.#consumer = undefined;
    this.#joined = false;
    await c?.close();
  }

  async commit(positions: KafkaPosition[]): Promise<void> {
    const merged = new Map<string, TopicOffset>();
    for (const p of positions)
      for (const [k, o] of p.offsets) {
        const prev = merged.get(k);
        if (!prev || o.offset > prev.offset) merged.set(k, o);
      }
    let delay = 200;
    for (;;) {
      const consumer = this.#consumer;
      if (!consumer) {
        this.#log.debug({ partitions: merged.size }, 'no consumer (reconnecting): positions left uncommitted, they are read again');
        return;
      }
      const owned = new Set(consumer.assignment().map((p) => tp(p.topic, p.partition)));
      const offsets = [...merged].filter(([k]) => owned.has(k)).map(([, o]) => o);
      if (offsets.length < merged.size)
        this.#log.debug({ dropped: merged.size - offsets.length }, 'positions of revoked partitions not committed: the new owner reads them again');
      if (!offsets.length) return;
      try {
        await consumer.commit(offsets);
        return;
      } catch (err) {
        const e = err instanceof KafkaError ? err : classify(err, 'offset commit failed');
        if (e.kind === 'rebalance') {
          this.#log.info({ err: e.message }, 'commit rejected by a rebalance: those records will be delivered again');
          return;
        }
        if (e.kind !== 'transient' || this.#closed) throw e;
        if (this.#ctx.signal.aborted && delay > 5_000) throw e;
        this.#log.warn({ err: e.message, retryInMs: delay }, 'offset commit failed; retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#dropConsumer();
  }
}

function headerMap(entries: Array<[string, Buffer]>): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [k, v] of entries) h[k] = k === HEADERS.fingerprint ? v.toString('hex') : v.toString('utf8');
  return h;
}

/**
 * One message → one SourceRecord. Raw-Avro values carry their writer schema's fingerprint in a header: it becomes
 * single-object framing for the avro format — except for the canonical schema when the source decodes itself
 * (`canonicalRaw`), where the raw value decodes as is (no copy).
 */
function toRecord(m: InMessage, canonicalRaw: boolean): SourceRecord {
  let value = m.value!;
  for (const [k, v] of m.headers)
    if (k === HEADERS.fingerprint) {
      if (!(canonicalRaw && v.equals(CANONICAL_FINGERPRINT))) value = frameWithFingerprint(value, v);
      break;
    }
  const entries = m.headers;
  let headers: Record<string, string> | undefined;
  let timestamp: string | undefined;
  return {
    ref: `${m.topic}/${m.partition}/${m.offset}`,
    payload: value,
    meta: {
      topic: m.topic,
      partition: m.partition,
      offset: String(m.offset),
      get timestamp() {
        timestamp ??= new Date(m.timestamp).toISOString();
        return timestamp;
      },
      key: m.key ? m.key.toString('utf8') : null,
      get headers() {
        headers ??= headerMap(entries);
        return headers;
      },
    },
  };
}
