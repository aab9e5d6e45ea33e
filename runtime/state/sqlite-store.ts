/**
 * Embedded state store on Node's built-in SQLite (node:sqlite): checkpoints, idempotency keys, dead letters and the
 * posting outbox for one pipeline, in `<stateDir>/<pipeline>.db`. WAL journal; `synchronous=NORMAL` by default, which survives
 * a process crash (SIGKILL) at any point; `FULL` also survives power loss at the cost of an fsync per commit.
 */
import { mkdirSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  ConfigError,
  type DeadLetter,
  type DeadLetterInput,
  OUTBOX_STATES,
  type OutboxEntry,
  type OutboxState,
  type OutboxUpdate,
  type StateStore,
} from '../contracts/spi.ts';

export interface SqliteStoreOptions {
  /** Durability of each commit: NORMAL survives process crashes, FULL also power loss. */
  synchronous?: 'NORMAL' | 'FULL';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS checkpoints (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, seen_at INTEGER NOT NULL,
  owner TEXT, PRIMARY KEY (scope, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT, pipeline TEXT NOT NULL, stage TEXT NOT NULL, reason TEXT NOT NULL,
  ref TEXT NOT NULL, payload BLOB, payload_is_text INTEGER NOT NULL DEFAULT 0, meta TEXT, error TEXT,
  created_at TEXT NOT NULL, replayed_at TEXT);
CREATE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (replayed_at, id);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, key TEXT NOT NULL,
  request TEXT, result TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_id ON outbox (scope, id);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (scope, state, seq);
`;

/** Opens (and creates) the state database of one pipeline. Throws ConfigError when the directory is unusable. */
export function openSqliteStore(stateDir: string, pipeline: string, opts: SqliteStoreOptions = {}): SqliteStateStore {
  try {
    mkdirSync(stateDir, { recursive: true });
    accessSync(stateDir, constants.W_OK);
  } catch (err) {
    throw new ConfigError(`state directory ${stateDir} is not writable: ${(err as Error).message}`);
  }
  const file = join(stateDir, `${pipeline.replace(/[^A-Za-z0-9._-]/g, '_')}.db`);
  return new SqliteStateStore(file, pipeline, opts);
}

export class SqliteStateStore implements StateStore {
  readonly file: string;
  readonly pipeline: string;
  readonly #db: DatabaseSync;
  readonly #stmts: Record<string, StatementSync>;

  constructor(file: string, pipeline: string, opts: SqliteStoreOptions = {}) {
    this.file = file;
    this.pipeline = pipeline;
    try {
      this.#db = new DatabaseSync(file);
      this.#db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=${opts.synchronous ?? 'NORMAL'}; PRAGMA busy_timeout=5000;`);
      this.#db.exec(SCHEMA);
      // Databases created before idempotency keys had owners.
      const cols = this.#db.prepare("SELECT name FROM pragma_table_info('idempotency')").all() as Array<{ name: string }>;
      if (!cols.some((c) => c.name === 'owner')) this.#db.exec('ALTER TABLE idempotency ADD COLUMN owner TEXT');
    } catch (err) {
      throw new ConfigError(`cannot open state database ${file}: ${(err as Error).message}`);
    }
    const db = this.#db;
    this.#stmts = {
      getCp: db.prepare('SELECT value FROM checkpoints WHERE key = ?'),
      putCp: db.prepare(
        'INSERT INTO checkpoints (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      ),
      delCp: db.prepare('DELETE FROM checkpoints WHERE key = ?'),
      listCp: db.prepare("SELECT key, value FROM checkpoints WHERE key >= ? AND key < ? || char(1114111) ORDER BY key"),
      getKey: db.prepare('SELECT seen_at, owner FROM idempotency WHERE scope = ? AND key = ?'),
      putKey: db.prepare(
        'INSERT INTO idempotency (scope, key, seen_at, owner) VALUES (?, ?, ?, ?) ON CONFLICT(scope, key) DO UPDATE SET seen_at = excluded.seen_at, owner = excluded.owner',
      ),
      delKey: db.prepare('DELETE FROM idempotency WHERE scope = ? AND key = ?'),
      addDl: db.prepare(
        'INSERT INTO dead_letters (pipeline, stage, reason, ref, payload, payload_is_text, meta, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      listDl: db.prepare(
        'SELECT * FROM dead_letters WHERE id > ? AND (? OR replayed_at IS NULL) ORDER BY id LIMIT ?',
      ),
      getDl: db.prepare('SELECT * FROM dead_letters WHERE id = ?'),
      markDl: db.prepare('UPDATE dead_letters SET replayed_at = ? WHERE id = ?'),
      countDl: db.prepare('SELECT count(*) AS n FROM dead_letters WHERE (? OR replayed_at IS NULL)'),
      getOb: db.prepare('SELECT * FROM outbox WHERE scope = ? AND id = ?'),
      stateOb: db.prepare('SELECT state FROM outbox WHERE scope = ? AND id = ?'),
      addOb: db.prepare(
        "INSERT INTO outbox (scope, id, state, key, request, attempts, created_at, updated_at) VALUES (?, ?, 'PENDING', ?, ?, 0, ?, ?)",
      ),
      setOb: db.prepare(
        'UPDATE outbox SET state = ?, result = coalesce(?, result), error = ?, attempts = max(0, attempts + ?), updated_at = ? WHERE scope = ? AND id = ?',
      ),
      listOb: db.prepare('SELECT * FROM outbox WHERE scope = ? AND seq > ? ORDER BY seq LIMIT ?'),
      countOb: db.prepare('SELECT state, count(*) AS n FROM outbox WHERE scope = ? GROUP BY state'),
    };
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const r = fn();
      this.#db.exec('COMMIT');
      return r;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async getCheckpoint<T>(key: string): Promise<T | undefined> {
    const row = this.#stmts.getCp.get(key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  async putCheckpoint(key: string, value: unknown): Promise<void> {
    this.#stmts.putCp.run(key, JSON.stringify(value), new Date().toISOString());
  }

  async deleteCheckpoint(key: string): Promise<void> {
    this.#stmts.delCp.run(key);
  }

  async listCheckpoints(prefix: string): Promise<Array<{ key: string; value: unknown }>> {
    const rows = this.#stmts.listCp.all(prefix, prefix) as Array<{ key: string; value: string }>;
    return rows.map((r) => ({ key: r.key, value: JSON.parse(r.value) }));
  }

  async claimKeys(scope: string, keys: string[], ttlMs?: number, owner?: string): Promise<Set<string>> {
    const now = Date.now();
    const dup = new Set<string>();
    this.#tx(() => {
      for (const k of keys) {
        const row = this.#stmts.getKey.get(scope, k) as { seen_at: number; owner: string | null } | undefined;
        const live = row && (ttlMs === undefined || now - row.seen_at < ttlMs);
        if (live && !(owner !== undefined && row.owner === owner)) dup.add(k);
        else this.#stmts.putKey.run(scope, k, live ? row.seen_at : now, owner ?? null);
      }
    });
    return dup;
  }

  async releaseKeys(scope: string, keys: string[]): Promise<void> {
    this.#tx(() => {
      for (const k of keys) this.#stmts.delKey.run(scope, k);
    });
  }

  async addDeadLetters(entries: DeadLetterInput[]): Promise<void> {
    if (entries.length === 0) return;
    const now = new Date().toISOString();
    this.#tx(() => {
      for (const e of entries) {
        const isText = typeof e.payload === 'string';
        const payload = e.payload === undefined ? null : isText ? Buffer.from(e.payload as string) : e.payload;
        this.#stmts.addDl.run(
          this.pipeline,
          e.stage,
          e.reason,
          e.ref,
          payload as Uint8Array | null,
          isText ? 1 : 0,
          e.meta ? JSON.stringify(e.meta) : null,
          e.error ? JSON.stringify(e.error) : null,
          now,
        );
      }
    });
  }

  async listDeadLetters(opts: { limit?: number; afterId?: number; includeReplayed?: boolean } = {}): Promise<DeadLetter[]> {
    const rows = this.#stmts.listDl.all(opts.afterId ?? 0, opts.includeReplayed ? 1 : 0, opts.limit ?? 100);
    return rows.map((r) => toDeadLetter(r as unknown as DlRow));
  }

  async getDeadLetter(id: number): Promise<DeadLetter | undefined> {
    const row = this.#stmts.getDl.get(id) as unknown as DlRow | undefined;
    return row ? toDeadLetter(row) : undefined;
  }

  async markReplayed(ids: number[]): Promise<void> {
    const now = new Date().toISOString();
    this.#tx(() => {
      for (const id of ids) this.#stmts.markDl.run(now, id);
    });
  }

  async countDeadLetters(opts: { includeReplayed?: boolean } = {}): Promise<number> {
    return (this.#stmts.countDl.get(opts.includeReplayed ? 1 : 0) as { n: number }).n;
  }

  async openOutbox(scope: string, entries: ReadonlyArray<{ id: string; key: string; request: unknown }>): Promise<OutboxEntry[]> {
    const now = new Date().toISOString();
    return this.#tx(() =>
      entries.map((e) => {
        let row = this.#stmts.getOb.get(scope, e.id) as ObRow | undefined;
        if (!row) {
          this.#stmts.addOb.run(scope, e.id, e.key, JSON.stringify(e.request ?? null), now, now);
          row = this.#stmts.getOb.get(scope, e.id) as unknown as ObRow;
        }
        return toOutboxEntry(row);
      }),
    );
  }

  async updateOutbox(scope: string, updates: readonly OutboxUpdate[]): Promise<string[]> {
    const now = new Date().toISOString();
    const moved: string[] = [];
    this.#tx(() => {
      for (const u of updates) {
        if (u.from) {
          const row = this.#stmts.stateOb.get(scope, u.id) as { state: OutboxState } | undefined;
          if (!row || !u.from.includes(row.state)) continue;
        }
        const result = u.result === undefined ? null : JSON.stringify(u.result);
        const r = this.#stmts.setOb.run(u.state, result, u.error ?? null, (u.attempt ? 1 : 0) - (u.unsent ? 1 : 0), now, scope, u.id);
        if (Number(r.changes) > 0) moved.push(u.id);
      }
    });
    return moved;
  }

  async listOutbox(
    scope: string,
    opts: { states?: readonly OutboxState[]; ids?: readonly string[]; afterSeq?: number; limit?: number } = {},
  ): Promise<OutboxEntry[]> {
    const limit = opts.limit ?? 100;
    if (opts.ids) {
      const out: OutboxEntry[] = [];
      for (const id of opts.ids) {
        const row = this.#stmts.getOb.get(scope, id) as ObRow | undefined;
        if (row && (!opts.states || opts.states.includes(row.state)) && row.seq > (opts.afterSeq ?? 0)) out.push(toOutboxEntry(row));
      }
      return out.sort((a, b) => a.seq - b.seq).slice(0, limit);
    }
    if (opts.states) {
      const marks = opts.states.map(() => '?').join(', ');
      const stmt = this.#db.prepare(`SELECT * FROM outbox WHERE scope = ? AND state IN (${marks}) AND seq > ? ORDER BY seq LIMIT ?`);
      return (stmt.all(scope, ...opts.states, opts.afterSeq ?? 0, limit) as unknown as ObRow[]).map(toOutboxEntry);
    }
    return (this.#stmts.listOb.all(scope, opts.afterSeq ?? 0, limit) as unknown as ObRow[]).map(toOutboxEntry);
  }

  async countOutbox(scope: string): Promise<Record<OutboxState, number>> {
    const counts = Object.fromEntries(OUTBOX_STATES.map((s) => [s, 0])) as Record<OutboxState, number>;
    for (const r of this.#stmts.countOb.all(scope) as Array<{ state: OutboxState; n: number }>) counts[r.state] = r.n;
    return counts;
  }

  async pruneOutbox(scope: string, opts: { before: string; states?: readonly OutboxState[] }): Promise<number> {
    const states = opts.states ?? ['POSTED', 'FAILED'];
    const marks = states.map(() => '?').join(', ');
    const r = this.#db.prepare(`DELETE FROM outbox WHERE scope = ? AND state IN (${marks}) AND updated_at < ?`).run(scope, ...states, opts.before);
    return Number(r.changes);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

interface ObRow {
  seq: number;
  scope: string;
  id: string;
  state: OutboxState;
  key: string;
  request: string | null;
  result: string | null;
  error: string | null;
  attempts: number;
  created_at: string;
  updated_at: string;
}

function toOutboxEntry(r: ObRow): OutboxEntry {
  const e: OutboxEntry = {
    seq: r.seq,
    id: r.id,
    state: r.state,
    key: r.key,
    request: r.request === null ? null : JSON.parse(r.request),
    attempts: r.attempts,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.result !== null) e.result = JSON.parse(r.result);
  if (r.error !== null) e.error = r.error;
  return e;
}

interface DlRow {
  id: number;
  pipeline: string;
  stage: DeadLetter['stage'];
  reason: string;
  ref: string;
  payload: Uint8Array | null;
  payload_is_text: number;
  meta: string | null;
  error: string | null;
  created_at: string;
  replayed_at: string | null;
}

function toDeadLetter(r: DlRow): DeadLetter {
  const payload =
    r.payload === null ? undefined : r.payload_is_text ? Buffer.from(r.payload).toString('utf8') : Buffer.from(r.payload);
  return {
    id: r.id,
    pipeline: r.pipeline,
    stage: r.stage,
    reason: r.reason,
    ref: r.ref,
    payload,
    meta: r.meta ? JSON.parse(r.meta) : undefined,
    error: r.error ? JSON.parse(r.error) : undefined,
    createdAt: r.created_at,
    replayedAt: r.replayed_at,
  };
}
