/**
 * Embedded state store on Node's built-in SQLite (node:sqlite): checkpoints, idempotency keys and dead letters
 * for one pipeline, in `<stateDir>/<pipeline>.db`. WAL journal; `synchronous=NORMAL` by default, which survives
 * a process crash (SIGKILL) at any point; `FULL` also survives power loss at the cost of an fsync per commit.
 */
import { mkdirSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { ConfigError, type DeadLetter, type DeadLetterInput, type StateStore } from '../contracts/spi.ts';

export interface SqliteStoreOptions {
  /** Durability of each commit: NORMAL survives process crashes, FULL also power loss. */
  synchronous?: 'NORMAL' | 'FULL';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS checkpoints (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, seen_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT, pipeline TEXT NOT NULL, stage TEXT NOT NULL, reason TEXT NOT NULL,
  ref TEXT NOT NULL, payload BLOB, payload_is_text INTEGER NOT NULL DEFAULT 0, meta TEXT, error TEXT,
  created_at TEXT NOT NULL, replayed_at TEXT);
CREATE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (replayed_at, id);
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
      getKey: db.prepare('SELECT seen_at FROM idempotency WHERE scope = ? AND key = ?'),
      putKey: db.prepare(
        'INSERT INTO idempotency (scope, key, seen_at) VALUES (?, ?, ?) ON CONFLICT(scope, key) DO UPDATE SET seen_at = excluded.seen_at',
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

  async claimKeys(scope: string, keys: string[], ttlMs?: number): Promise<Set<string>> {
    const now = Date.now();
    const dup = new Set<string>();
    this.#tx(() => {
      for (const k of keys) {
        const row = this.#stmts.getKey.get(scope, k) as { seen_at: number } | undefined;
        if (row && (ttlMs === undefined || now - row.seen_at < ttlMs)) dup.add(k);
        else this.#stmts.putKey.run(scope, k, now);
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

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
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
