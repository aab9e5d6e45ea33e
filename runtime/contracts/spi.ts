/**
 * The connector SPI: everything a source, sink, processor or input format needs to plug into the engine.
 *
 * The path of one record: a Source yields it in a SourceBatch (decoded by the pipeline's input Format when the
 * source reads a byte stream, or carrying a raw payload the engine decodes); the mapping turns it into canonical
 * events; processors may rewrite them; every Sink acknowledges by resolving write() (possibly only at its next
 * flush()); rejects go to the dead-letter store; then the engine hands the batch's position back to
 * Source.commit(), in source order. Nothing is committed before every event and reject derived from it is durable.
 */
import type { InventoryEvent } from './event.ts';

/** Why a record or event could not go through, and where exactly. */
export interface RecordError {
  stage: 'decode' | 'map' | 'validate' | 'process' | 'sink' | 'source';
  reason: string;
  /** File or stream the record came from. */
  file?: string;
  /** 1-based line in a text input. */
  line?: number;
  /** 1-based column (or field number) where the problem is. */
  column?: number;
  /** Byte offset of the record (or the bad byte) in the input. */
  offset?: number;
  /** Field name or path involved. */
  field?: string;
}

/** A record as read from a source, before mapping. */
export interface SourceRecord {
  /** Stable reference within the source: `sales.csv:17`, an MQ MsgId, `topic/3/1204`. Feeds lineage and eventId. */
  ref: string;
  /** Decoded fields, when the source decoded the record itself (byte-stream sources decode through the Format). */
  value?: unknown;
  /** Raw payload, kept for the dead-letter store and decoded by the engine when `value` is absent. */
  payload?: Uint8Array | string;
  /** Source metadata, visible to mappings as `$meta` (MQMD fields, Kafka headers, file name, ...). */
  meta?: Readonly<Record<string, unknown>>;
  /** Set when the source's decoder already found the record broken: it becomes a reject. */
  error?: RecordError;
}

/** One batch of records and the opaque position that commits them. */
export interface SourceBatch<P = unknown> {
  records: SourceRecord[];
  /** Handed back to Source.commit() once every record of this batch (and all earlier batches) is done. */
  position: P;
  /**
   * The source produces nothing more until this batch is committed (e.g. IBM MQ: MQCMIT covers every get on the
   * connection). The engine then flushes the sinks immediately instead of waiting for them to fill.
   */
  commitBarrier?: boolean;
  /** Accounting unit (a file name): the run summary breaks counts down by it. */
  unit?: string;
}

export interface SourceContext {
  readonly pipeline: string;
  /** Aborted on shutdown: stop producing, return from the iterator. */
  readonly signal: AbortSignal;
  /** --once: drain what exists now, then end. */
  readonly once: boolean;
  /** Records per batch the engine would like. */
  readonly batchSize: number;
  /** The pipeline's input format, for sources that read byte streams (files). */
  readonly format: BoundFormat;
  readonly state: StateStore;
  readonly log: Logger;
  /** Store a record that cannot even be turned into a SourceRecord (e.g. a file that cannot be read). */
  deadLetter(entry: DeadLetterInput): Promise<void>;
  /** Counts the engine has for an accounting unit (a file) so far; for per-file log lines at commit time. */
  unitCounts(unit: string): UnitCounts | undefined;
}

export interface UnitCounts {
  recordsIn: number;
  recordsMapped: number;
  recordsFiltered: number;
  recordsRejected: number;
  eventsOut: number;
}

export interface Source<P = unknown> {
  /** Yields batches; ends when drained (once) or when ctx.signal aborts. */
  batches(): AsyncIterable<SourceBatch<P>>;
  /** Commit positions, oldest first; everything up to the last one is done. Called serially, never concurrently. */
  commit(positions: P[]): Promise<void>;
  /** Called once when the pipeline stops on an error before these positions could commit (MQ: MQBACK). */
  rollback?(positions: P[], error: Error): Promise<void>;
  close(): Promise<void>;
}

export interface SinkContext {
  readonly pipeline: string;
  readonly state: StateStore;
  readonly log: Logger;
  /** Send events this sink cannot ever deliver (business rejects) to the dead-letter store. */
  deadLetter(entry: DeadLetterInput): Promise<void>;
}

/** Details about the batch a write belongs to (for lineage headers and routing). */
export interface WriteInfo {
  readonly unit?: string;
}

export interface Sink {
  /**
   * Accept events. The promise resolves when the events are durable (Kafka acked, file published, SAP posted).
   * A buffering sink may hold the promise until its next flush(). Reject with a TransientError to have the engine
   * retry with backoff; any other error stops the pipeline without committing.
   */
  write(events: readonly InventoryEvent[], info: WriteInfo): Promise<void>;
  /** Make everything written so far durable and settle (resolve or reject) every pending write() promise. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional: accept dead letters (a pipeline's `deadLetter.sink`). Resolves when they are durable; a
   * TransientError is retried with backoff, anything else stops the pipeline without committing.
   */
  writeDeadLetters?(entries: readonly DeadLetterInput[]): Promise<void>;
}

export interface Processor {
  process(events: InventoryEvent[]): InventoryEvent[] | Promise<InventoryEvent[]>;
  close?(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Input formats (csv, jsonl, xml, fixed-width, copybook, idoc, ...): shared by the file and message sources.

/** A record decoded from a byte stream. */
export interface DecodedRecord {
  value?: unknown;
  error?: RecordError;
  /** The raw record text or bytes, kept for the dead-letter store. */
  raw: string | Uint8Array;
  /** 1-based line where the record starts (text formats). */
  line?: number;
  /** Byte offset of the record's first byte. */
  offset: number;
  /** Byte offset just past the record: resuming here reads the next record. */
  end: number;
  /** 1-based line number at `end` (text formats): the `line` to resume with. */
  endLine?: number;
}

export interface StreamDecoder {
  /** Feed the next chunk of bytes; returns the records it completed. */
  push(chunk: Uint8Array): DecodedRecord[];
  /** End of input: returns what remains (a truncated last record comes back as an error record). */
  end(): DecodedRecord[];
  /** State needed to resume after the last returned record (e.g. a CSV header), stored with the checkpoint. */
  resumeState(): unknown;
}

export interface StreamStart {
  /** Name used in record references and errors. */
  file: string;
  /** Byte offset the stream starts at (0, or a checkpointed `end`). */
  offset: number;
  /** Line number of the first byte (1 at the start of a file). */
  line: number;
  /** What resumeState() returned at the checkpoint, when resuming. */
  resume?: unknown;
}

/** A format bound to one mapping's options. */
export interface BoundFormat {
  readonly name: string;
  /** Binary formats (copybook records) may hold any byte; text formats never hold NUL bytes. */
  readonly binary?: boolean;
  /** Decoder for a byte stream (files, stdin). */
  streamDecoder(start: StreamStart): StreamDecoder;
  /** Decode one message payload (MQ, Kafka) into one or more records. */
  decodeMessage(payload: Uint8Array | string, ref: string): DecodedRecord[];
}

export interface FormatSpec {
  readonly name: string;
  readonly summary: string;
  /** JSON Schema of the format's options in a mapping's `input` section. */
  readonly options: JsonSchema;
  /** Bind the options once per mapping; `baseDir` resolves relative paths (copybooks, layouts). */
  bind(options: Record<string, unknown>, baseDir: string): BoundFormat;
}

// ---------------------------------------------------------------------------------------------------------------
// Connector specs and the registry.

export type JsonSchema = Record<string, unknown>;

export interface ConnectorContext {
  readonly pipeline: string;
  /** Directory of the pipeline file: relative paths in options resolve from here. */
  readonly baseDir: string;
  readonly stateDir: string;
  readonly log: Logger;
}

interface SpecBase<C> {
  /** The `type:` used in pipeline files. */
  readonly name: string;
  /** One line for `stockbridge connectors`. */
  readonly summary: string;
  /** JSON Schema of the options (everything beside `type:`); drives validation, docs and editor completion. */
  readonly options: JsonSchema;
  /** Which delivery guarantee the component gives, for the docs' guarantee table. */
  readonly delivery: string;
  /** Example YAML snippet for the docs. */
  readonly example?: string;
  readonly _config?: C;
}

export interface SourceSpec<C = Record<string, unknown>> extends SpecBase<C> {
  readonly kind: 'source';
  create(config: C, ctx: ConnectorContext & { source: SourceContext }): Source | Promise<Source>;
}

export interface SinkSpec<C = Record<string, unknown>> extends SpecBase<C> {
  readonly kind: 'sink';
  create(config: C, ctx: ConnectorContext & { sink: SinkContext }): Sink | Promise<Sink>;
}

export interface ProcessorSpec<C = Record<string, unknown>> extends SpecBase<C> {
  readonly kind: 'processor';
  create(config: C, ctx: ConnectorContext): Processor | Promise<Processor>;
}

export type ConnectorSpec = SourceSpec<any> | SinkSpec<any> | ProcessorSpec<any>;

// ---------------------------------------------------------------------------------------------------------------
// State: checkpoints, idempotency keys and dead letters. Embedded SQLite by default, Redis in a worker pool.

export interface DeadLetterInput {
  stage: RecordError['stage'];
  reason: string;
  ref: string;
  payload?: Uint8Array | string;
  meta?: Record<string, unknown>;
  error?: RecordError;
}

export interface DeadLetter extends DeadLetterInput {
  id: number;
  pipeline: string;
  createdAt: string;
  replayedAt?: string | null;
}

/**
 * The outbox: exactly-once delivery to a target that has no idempotent write (SAP postings). One entry per event id
 * and sink (`scope`), persisted before the target is called:
 *
 *   (none) ──open──► PENDING ──posted──► POSTED      final: re-delivered events are skipped as duplicates
 *                       │ └──business error──► FAILED   final: dead-lettered with the target's messages
 *                       └──timeout / lost session──► UNCERTAIN ──looked up in the target──► POSTED, or PENDING again
 *
 * A PENDING entry left by a crash is treated like UNCERTAIN: the target may have posted it, so it is looked up by its
 * key before any new attempt.
 */
export type OutboxState = 'PENDING' | 'POSTED' | 'FAILED' | 'UNCERTAIN';
export const OUTBOX_STATES: readonly OutboxState[] = ['PENDING', 'POSTED', 'FAILED', 'UNCERTAIN'];

export interface OutboxEntry {
  /** Insertion order within the store (paging). */
  seq: number;
  /** The event id. */
  id: string;
  state: OutboxState;
  /** Idempotency key carried to the target (e.g. SAP HEADER_TXT), to look the posting up there. */
  key: string;
  /** The request as prepared for the target (JSON). */
  request: unknown;
  /** POSTED: the target's reference (material document and year); FAILED: the target's messages. */
  result?: unknown;
  error?: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

export interface OutboxUpdate {
  id: string;
  state: OutboxState;
  /** Compare-and-set: move the entry only if it is in one of these states. */
  from?: readonly OutboxState[];
  result?: unknown;
  error?: string | null;
  /** Count one more attempt at the target. */
  attempt?: boolean;
  /** The last counted attempt certainly never reached the target (connection refused): take its count back. */
  unsent?: boolean;
}

export interface StateStore {
  getCheckpoint<T = unknown>(key: string): Promise<T | undefined>;
  /** Durable when the promise resolves. */
  putCheckpoint(key: string, value: unknown): Promise<void>;
  deleteCheckpoint(key: string): Promise<void>;
  listCheckpoints(prefix: string): Promise<Array<{ key: string; value: unknown }>>;
  /**
   * Record keys as seen; resolves to the ones already present (duplicates). Keys older than ttlMs do not count.
   * With an `owner`, a key already claimed by the same owner is not a duplicate (a retry after a crash).
   */
  claimKeys(scope: string, keys: string[], ttlMs?: number, owner?: string): Promise<Set<string>>;
  /** Forget keys claimed earlier (e.g. a file that could not be processed may be dropped again). */
  releaseKeys(scope: string, keys: string[]): Promise<void>;
  addDeadLetters(entries: DeadLetterInput[]): Promise<void>;
  listDeadLetters(opts?: { limit?: number; afterId?: number; includeReplayed?: boolean }): Promise<DeadLetter[]>;
  getDeadLetter(id: number): Promise<DeadLetter | undefined>;
  markReplayed(ids: number[]): Promise<void>;
  countDeadLetters(opts?: { includeReplayed?: boolean }): Promise<number>;
  /** Outbox: add PENDING entries for the ids not present yet; returns each id's entry, new or existing. Durable. */
  openOutbox(scope: string, entries: ReadonlyArray<{ id: string; key: string; request: unknown }>): Promise<OutboxEntry[]>;
  /** Move entries in one transaction; returns the ids that moved (not those missing or outside `from`). Durable. */
  updateOutbox(scope: string, updates: readonly OutboxUpdate[]): Promise<string[]>;
  /** Entries in insertion order, optionally only some ids or states. */
  listOutbox(scope: string, opts?: { states?: readonly OutboxState[]; ids?: readonly string[]; afterSeq?: number; limit?: number }): Promise<OutboxEntry[]>;
  countOutbox(scope: string): Promise<Record<OutboxState, number>>;
  /** Forget final entries (POSTED/FAILED, or the given states) last updated before `before` (ISO instant). */
  pruneOutbox(scope: string, opts: { before: string; states?: readonly OutboxState[] }): Promise<number>;
  close(): Promise<void>;
}

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Thrown (or rejected) by a sink or source when retrying later may succeed: broker down, timeout, 503. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Invalid configuration or input found at start: reported as `file:line:col: message`, exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly location?: { file: string; line?: number; column?: number };
  constructor(message: string, location?: { file: string; line?: number; column?: number }) {
    super(message);
    this.location = location;
  }

  override toString(): string {
    const l = this.location;
    if (!l) return this.message;
    return `${l.file}${l.line ? `:${l.line}:${l.column ?? 1}` : ''}: ${this.message}`;
  }
}
