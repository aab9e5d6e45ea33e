/**
 * The `sap-rfc` source: scheduled RFC extracts as snapshot records. Each run (a snapshot, identified by its start
 * instant) reads page after page — `RFC_READ_TABLE` with ROWSKIPS/ROWCOUNT, or a configured function module with its
 * own paging parameters — and yields each page as a batch. The checkpoint (state store key `sap-rfc:<pipeline>`)
 * holds the open run and the rows committed so far, so a restart resumes that snapshot at the next page instead of
 * starting over; a finished run records when it ended, and the next one starts `every` later.
 *
 * Records: one per row, value = the row's fields (trimmed text), ref `<table or function>@<snapshot>:<row>` (the same
 * row of the same snapshot always gets the same event id), meta {function, table, snapshotId, snapshotAt, page, row}.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, type Logger, type Source, type SourceBatch, type SourceContext, type SourceRecord } from '../../runtime/contracts/spi.ts';
import { classifyRfcError, loadNodeRfc, type RfcClient } from '../sap/node-rfc.ts';

export interface SapRfcOptions {
  connection: Record<string, string>;
  table?: string;
  fields?: string[];
  where?: string[];
  function?: string;
  parameters?: Record<string, unknown>;
  rows?: string;
  paging?: { skip: string; count: string } | false;
  pageSize: number;
  every?: string;
  runAtStart: boolean;
  timeoutSeconds: number;
}

export interface RfcPosition {
  snapshotId: string;
  /** Rows of the snapshot done once this batch commits. */
  rows: number;
  /** Last batch of the snapshot. */
  last: boolean;
}

interface Checkpoint {
  /** The snapshot being read, and how many rows of it are committed. */
  open?: { snapshotId: string; rows: number };
  lastSnapshotId?: string;
  lastCompletedAt?: string;
}

/** `90s`, `15m`, `1h`, `1d`, or milliseconds. */
export function parseDuration(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(s);
  if (!m) throw new ConfigError(`sap-rfc: '${s}' is not a duration (e.g. 90s, 15m, 1h, 1d)`);
  const n = Number(m[1]);
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms']);
}

/** RFC_READ_TABLE OPTIONS: the where conditions joined with AND, cut into 72-character lines at spaces. */
export function optionLines(where: string[]): Array<{ TEXT: string }> {
  const text = where.map((w) => `( ${w.trim()} )`).join(' AND ');
  const out: Array<{ TEXT: string }> = [];
  let rest = text;
  while (rest.length > 72) {
    let cut = rest.lastIndexOf(' ', 72);
    if (cut <= 0) cut = 72;
    out.push({ TEXT: rest.slice(0, cut) });
    rest = rest.slice(cut).replace(/^ /, '');
  }
  if (rest) out.push({ TEXT: rest });
  return out;
}

/** Rows of an RFC_READ_TABLE answer, sliced by each field's OFFSET/LENGTH (delimiter-independent). */
export function readTableRows(r: Record<string, any>): Array<Record<string, string>> {
  const fields = ((r.FIELDS ?? []) as Array<Record<string, string>>).map((f) => ({
    name: String(f.FIELDNAME).trim(),
    offset: Number(f.OFFSET),
    length: Number(f.LENGTH),
  }));
  return ((r.DATA ?? []) as Array<{ WA: string }>).map((d) => {
    const row: Record<string, string> = {};
    for (const f of fields) row[f.name] = String(d.WA ?? '').slice(f.offset, f.offset + f.length).trim();
    return row;
  });
}

function trimRow(row: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((row ?? {}) as Record<string, unknown>)) out[k] = typeof v === 'string' ? v.trim() : v;
  return out;
}

export class SapRfcSource implements Source<RfcPosition> {
  readonly #o: SapRfcOptions;
  readonly #ctx: SourceContext;
  readonly #log: Logger;
  readonly #key: string;
  readonly #every: number | undefined;
  #client: RfcClient | undefined;

  constructor(o: SapRfcOptions, ctx: SourceContext) {
    if (!o.table === !o.function) throw new ConfigError('sap-rfc: give either `table` (RFC_READ_TABLE) or `function` (a function module)');
    if (o.function && !o.rows) throw new ConfigError('sap-rfc: `function` needs `rows`: the table parameter that holds the result rows');
    this.#o = o;
    this.#ctx = ctx;
    this.#log = ctx.log;
    this.#key = `sap-rfc:${ctx.pipeline}`;
    this.#every = o.every ? parseDuration(o.every) : undefined;
  }

  get #name(): string {
    return this.#o.table ?? this.#o.function!;
  }

  async *batches(): AsyncGenerator<SourceBatch<RfcPosition>> {
    const { signal, once, state } = this.#ctx;
    const Client = await loadNodeRfc();
    for (;;) {
      const cp = (await state.getCheckpoint<Checkpoint>(this.#key)) ?? {};
      let snapshotId: string;
      let skip = 0;
      if (cp.open) {
        snapshotId = cp.open.snapshotId;
        skip = cp.open.rows;
        this.#log.info({ snapshotId, rows: skip }, 'resuming an RFC extract after a restart');
      } else {
        if (!once) {
          let due: number;
          if (cp.lastCompletedAt) {
            if (this.#every === undefined) return; // a one-off extract, already done
            due = Date.parse(cp.lastCompletedAt) + this.#every;
          } else due = this.#o.runAtStart ? Date.now() : Date.now() + (this.#every ?? 0);
          if (!(await this.#waitUntil(due))) return;
        }
        snapshotId = new Date().toISOString();
        await state.putCheckpoint(this.#key, { ...cp, open: { snapshotId, rows: 0 } } satisfies Checkpoint);
      }
      this.#client ??= new Client(this.#o.connection, { stateless: false, timeout: this.#o.timeoutSeconds });
      let page = Math.floor(skip / this.#o.pageSize);
      this.#log.info({ snapshotId, source: this.#name, from: skip }, 'RFC extract started');
      for (;;) {
        if (signal.aborted) return;
        const rows = await this.#page(skip);
        if (rows === undefined) return; // aborted while retrying
        const pageSize = this.#o.paging === false || (this.#o.function && !this.#o.paging) ? Number.POSITIVE_INFINITY : this.#o.pageSize;
        const last = rows.length < pageSize;
        const records: SourceRecord[] = rows.map((value, i) => ({
          ref: `${this.#name}@${snapshotId}:${skip + i + 1}`,
          value,
          meta: { function: this.#o.function ?? 'RFC_READ_TABLE', table: this.#o.table, snapshotId, snapshotAt: snapshotId, page: page + 1, row: skip + i + 1 },
        }));
        // split a page into engine-sized batches; only the page's last batch may end the snapshot
        const size = Math.max(1, this.#ctx.batchSize);
        for (let i = 0; i < records.length || i === 0; i += size) {
          const part = records.slice(i, i + size);
          const end = i + size >= records.length;
          yield { records: part, position: { snapshotId, rows: skip + i + part.length, last: last && end }, unit: `${this.#name}@${snapshotId}` };
          if (records.length === 0) break;
        }
        skip += rows.length;
        page++;
        if (last) break;
      }
      this.#log.info({ snapshotId, rows: skip }, 'RFC extract read completely');
      if (once) return;
    }
  }

  /** Waits until `at` (false when aborted first). */
  async #waitUntil(at: number): Promise<boolean> {
    const ms = at - Date.now();
    if (ms <= 0) return !this.#ctx.signal.aborted;
    try {
      await sleep(ms, undefined, { signal: this.#ctx.signal });
      return true;
    } catch {
      return false;
    }
  }

  /** One page, retrying lost connections with backoff; configuration problems are thrown. */
  async #page(skip: number): Promise<Array<Record<string, unknown>> | undefined> {
    let delay = 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.#client!.alive) await this.#client!.open();
        return await this.#call(skip);
      } catch (err) {
        const info = classifyRfcError(err);
        const e = err as { name?: string };
        if (info.logon || e?.name === 'ABAPError' || err instanceof ConfigError) throw new ConfigError(`sap-rfc: ${info.text}`);
        this.#log.warn({ attempt, retryInMs: delay, err: info.text }, 'RFC extract call failed; retrying');
        await this.#client!.close().catch(() => undefined);
        try {
          await sleep(delay, undefined, { signal: this.#ctx.signal });
        } catch {
          return undefined;
        }
        delay = Math.min(delay * 2, 60_000);
      }
    }
  }

  async #call(skip: number): Promise<Array<Record<string, unknown>>> {
    const o = this.#o;
    const opts = { timeout: o.timeoutSeconds };
    if (o.table) {
      const r = await this.#client!.call(
        'RFC_READ_TABLE',
        {
          QUERY_TABLE: o.table,
          DELIMITER: '',
          ROWSKIPS: skip,
          ROWCOUNT: o.pageSize,
          OPTIONS: optionLines(o.where ?? []),
          FIELDS: (o.fields ?? []).map((f) => ({ FIELDNAME: f })),
        },
        opts,
      );
      return readTableRows(r);
    }
    const params: Record<string, unknown> = { ...(o.parameters ?? {}) };
    if (o.paging) {
      params[o.paging.skip] = skip;
      params[o.paging.count] = o.pageSize;
    }
    const r = await this.#client!.call(o.function!, params, opts);
    const rows = r[o.rows!];
    if (!Array.isArray(rows)) throw new ConfigError(`sap-rfc: ${o.function} returned no table ${o.rows}`);
    return rows.map(trimRow);
  }

  async commit(positions: RfcPosition[]): Promise<void> {
    const p = positions[positions.length - 1];
    const cp = (await this.#ctx.state.getCheckpoint<Checkpoint>(this.#key)) ?? {};
    if (p.last) {
      await this.#ctx.state.putCheckpoint(this.#key, { lastSnapshotId: p.snapshotId, lastCompletedAt: new Date().toISOString() } satisfies Checkpoint);
      this.#log.info({ snapshotId: p.snapshotId, rows: p.rows }, 'RFC extract committed');
    } else await this.#ctx.state.putCheckpoint(this.#key, { ...cp, open: { snapshotId: p.snapshotId, rows: p.rows } } satisfies Checkpoint);
  }

  async close(): Promise<void> {
    await this.#client?.close().catch(() => undefined);
  }
}
