/**
 * Keyed tables used by `lookup()` / `has()`: inline rule tables (`tables:`) and reference files (`lookups:`, CSV or
 * JSON), plus unit-of-measure conversion (`units:`).
 *
 * Keys are text compared exactly (numbers in canonical form: 7, 1.5); a composite key is written as a list,
 * `lookup(movements, [BWART, SHKZG])`. Every table says what a missing key does: `reject` the record (default) or
 * use its `default`.
 */
import { readFileSync } from 'node:fs';
import { Dec } from './decimal.ts';
import { fault } from './fault.ts';
import { keyText, show, toDec } from './values.ts';

export const KEY_SEP = '\u001f';

/** A problem in a table definition or file; `row` (1-based data row) and `line` when known. */
export class TableError extends Error {
  readonly line?: number;
  readonly row?: number;
  constructor(message: string, where?: { line?: number; row?: number }) {
    super(message);
    this.line = where?.line;
    this.row = where?.row;
  }
}

export type Row = Record<string, unknown>;

export class Table {
  readonly name: string;
  /** `lookup` (from a file) or `table` (inline): used in messages. */
  readonly kind: 'lookup' | 'table';
  readonly keyColumns: readonly string[];
  readonly columns: readonly string[];
  /** Column returned by lookup(t, key) without a column argument, or null when there is no single obvious one. */
  readonly valueColumn: string | null;
  readonly onMissing: 'reject' | 'default';
  readonly #rows = new Map<string, Row>();
  readonly #byColumn = new Map<string, Map<string, unknown>>();
  readonly #defaults: Row | null;

  constructor(opts: {
    name: string;
    kind: 'lookup' | 'table';
    keyColumns: string[];
    columns: string[];
    value?: string | null;
    onMissing?: 'reject' | 'default';
    default?: unknown;
  }) {
    this.name = opts.name;
    this.kind = opts.kind;
    this.keyColumns = opts.keyColumns;
    this.columns = opts.columns;
    if (opts.value != null && !opts.columns.includes(opts.value))
      throw new TableError(
        `value column ${JSON.stringify(opts.value)} is not one of the columns (${opts.columns.join(', ')})`,
      );
    this.valueColumn = opts.value ?? (opts.columns.length === 1 ? opts.columns[0] : null);
    this.onMissing = opts.onMissing ?? 'reject';
    if (this.onMissing === 'default') {
      if (opts.default === undefined) throw new TableError('onMissing: default needs a default: value');
      const d: Row = Object.create(null);
      if (opts.default !== null && typeof opts.default === 'object' && !Array.isArray(opts.default)) {
        for (const [k, v] of Object.entries(opts.default as Row)) {
          if (!this.columns.includes(k))
            throw new TableError(
              `default names ${JSON.stringify(k)}, which is not a column (${this.columns.join(', ')})`,
            );
          d[k] = v;
        }
        for (const c of this.columns) if (!(c in d)) d[c] = null;
      } else for (const c of this.columns) d[c] = opts.default;
      this.#defaults = d;
    } else {
      if (opts.default !== undefined) throw new TableError('default: is only used with onMissing: default');
      this.#defaults = null;
    }
  }

  get size(): number {
    return this.#rows.size;
  }

  /** Adds a row; `key` already joined. Duplicate keys are an error (a reference file with two answers is a bug). */
  add(key: string, row: Row, where?: { line?: number; row?: number }): void {
    if (this.#rows.has(key)) throw new TableError(`${this.kind} ${this.name}: duplicate key ${showKey(key)}`, where);
    this.#rows.set(key, row);
  }

  /** Map key -> value of one column, built once (what compiled lookups read). */
  column(col: string): Map<string, unknown> {
    let m = this.#byColumn.get(col);
    if (!m) {
      m = new Map();
      for (const [k, r] of this.#rows) m.set(k, r[col] ?? null);
      this.#byColumn.set(col, m);
    }
    return m;
  }

  row(key: string): Row | undefined {
    return this.#rows.get(key);
  }

  has(key: string): boolean {
    return this.#rows.has(key);
  }

  /** What a missing key gives for `col`: the default, or a fault (the record is rejected). */
  missing(key: string | null, col: string | null): unknown {
    if (this.#defaults) return col === null ? this.#defaults : this.#defaults[col];
    return fault(`no entry for ${key === null ? 'an empty key' : showKey(key)} in ${this.kind} ${this.name}`);
  }

  /** The joined key text of a lookup argument (a value, or a list for composite keys). */
  keyOf(v: unknown): string | null {
    if (this.keyColumns.length === 1) return keyText(v);
    if (!Array.isArray(v) || v.length !== this.keyColumns.length)
      fault(
        `${this.kind} ${this.name} has a composite key (${this.keyColumns.join(', ')}): pass a list of ${this.keyColumns.length} values, got ${show(v)}`,
      );
    let k = '';
    for (let i = 0; i < v.length; i++) {
      const p = keyText(v[i]);
      if (p === null) return null;
      k = i === 0 ? p : k + KEY_SEP + p;
    }
    return k;
  }
}

function showKey(key: string): string {
  const parts = key.split(KEY_SEP);
  return parts.length === 1 ? JSON.stringify(key) : `[${parts.map((p) => JSON.stringify(p)).join(', ')}]`;
}

export function joinKey(parts: readonly unknown[]): string | null {
  let k = '';
  for (let i = 0; i < parts.length; i++) {
    const p = keyText(parts[i]);
    if (p === null) return null;
    k = i === 0 ? p : k + KEY_SEP + p;
  }
  return k;
}

// ---------------------------------------------------------------------------------------------------------------
// Reference files

export interface LookupSpec {
  name: string;
  /** Absolute path. */
  file: string;
  key: string[];
  columns?: string[];
  value?: string;
  onMissing?: 'reject' | 'default';
  default?: unknown;
  delimiter?: string;
}

/** Loads a reference file (`.csv` or `.json`) into a Table. */
export function loadLookup(spec: LookupSpec): Table {
  let text: string;
  try {
    text = readFileSync(spec.file, 'utf8');
  } catch (e) {
    throw new TableError(`cannot read ${spec.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let rows: Array<{ row: Row; line?: number }>;
  let header: string[];
  if (/\.json$/i.test(spec.file)) ({ rows, header } = jsonRows(text, spec));
  else ({ rows, header } = csvRows(text, spec.delimiter ?? ','));
  for (const k of spec.key)
    if (!header.includes(k))
      throw new TableError(`key column ${JSON.stringify(k)} is not in ${spec.file} (columns: ${header.join(', ')})`);
  const columns = spec.columns ?? header.filter((h) => !spec.key.includes(h));
  for (const c of columns)
    if (!header.includes(c))
      throw new TableError(`column ${JSON.stringify(c)} is not in ${spec.file} (columns: ${header.join(', ')})`);
  const t = new Table({
    name: spec.name,
    kind: 'lookup',
    keyColumns: spec.key,
    columns,
    value: spec.value,
    onMissing: spec.onMissing,
    default: spec.default,
  });
  rows.forEach(({ row, line }, i) => {
    const key = joinKey(spec.key.map((k) => row[k]));
    if (key === null) throw new TableError(`empty key in ${spec.file}`, { line, row: i + 1 });
    const r: Row = Object.create(null);
    for (const c of columns) r[c] = row[c] ?? null;
    t.add(key, r, { line, row: i + 1 });
  });
  return t;
}

function jsonRows(text: string, spec: LookupSpec): { rows: Array<{ row: Row }>; header: string[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new TableError(`${spec.file} is not valid JSON: ${(e as Error).message}`);
  }
  const header = new Set<string>();
  const rows: Array<{ row: Row }> = [];
  if (Array.isArray(data)) {
    for (const r of data) {
      if (r === null || typeof r !== 'object' || Array.isArray(r))
        throw new TableError(`${spec.file}: every element must be an object (a row)`);
      for (const k of Object.keys(r)) header.add(k);
      rows.push({ row: r as Row });
    }
  } else if (data !== null && typeof data === 'object') {
    // { "<key>": {row} } or { "<key>": value }
    if (spec.key.length !== 1) throw new TableError(`${spec.file}: an object file needs a single key column`);
    const kc = spec.key[0];
    header.add(kc);
    for (const [k, v] of Object.entries(data as Row)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        for (const c of Object.keys(v)) header.add(c);
        rows.push({ row: { ...(v as Row), [kc]: k } });
      } else {
        const vc = spec.columns?.[0] ?? spec.value ?? 'value';
        header.add(vc);
        rows.push({ row: { [kc]: k, [vc]: v } });
      }
    }
  } else throw new TableError(`${spec.file}: expected a list of rows or an object keyed by ${spec.key.join(', ')}`);
  return { rows, header: [...header] };
}

/** Minimal RFC 4180 reader for reference files: header row, quoted fields, CRLF or LF. */
export function csvRows(
  text: string,
  delimiter: string,
): { rows: Array<{ row: Row; line: number }>; header: string[] } {
  const records: Array<{ fields: string[]; line: number }> = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recLine = 1;
  let i = 0;
  let quoted = false;
  let atStart = true;
  const d = delimiter;
  const n = text.length;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recLine });
    fields = [];
    field = '';
    atStart = true;
  };
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '' && atStart) {
      quoted = true;
      atStart = false;
      i++;
      continue;
    }
    if (text.startsWith(d, i)) {
      fields.push(field);
      field = '';
      atStart = true;
      i += d.length;
      continue;
    }
    if (c === '\r' && text[i + 1] === '\n') {
      i++;
      continue;
    }
    if (c === '\n') {
      endRecord();
      line++;
      recLine = line;
      i++;
      continue;
    }
    atStart = false;
    field += c;
    i++;
  }
  if (quoted) throw new TableError('unterminated quoted field', { line: recLine });
  if (field !== '' || fields.length > 0) endRecord();
  if (records.length === 0) throw new TableError('the file is empty (a header row is required)');
  const header = records[0].fields.map((h) => h.trim());
  const rows = records.slice(1).map(({ fields: f, line: l }) => {
    if (f.length !== header.length)
      throw new TableError(`line ${l} has ${f.length} fields, the header has ${header.length}`, { line: l });
    const row: Row = Object.create(null);
    header.forEach((h, j) => {
      row[h] = f[j];
    });
    return { row, line: l };
  });
  return { rows, header };
}

// ---------------------------------------------------------------------------------------------------------------
// Units of measure

/**
 * `units: {CS: 12 EA, PK: 6 EA, KG: 1000 G}`: each unit defined as a quantity of another; chains resolve to a base
 * unit. convert(q, from, to) works between any two units with the same base, exactly (a conversion whose result is
 * not an exact decimal is a fault: round explicitly in the mapping, or convert to the smaller unit).
 */
export class Units {
  readonly #base = new Map<string, { base: string; factor: Dec }>();
  readonly #pairs = new Map<string, Dec | null>();

  constructor(defs: Record<string, string>) {
    const raw = new Map<string, { n: Dec; unit: string }>();
    for (const [u, def] of Object.entries(defs)) {
      const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s+(\S+)\s*$/.exec(String(def));
      if (!m) throw new TableError(`unit ${u}: write it as "<number> <unit>", e.g. "12 EA"`);
      const n = Dec.parse(m[1])!;
      if (Dec.sign(n) <= 0) throw new TableError(`unit ${u}: the factor must be positive`);
      if (m[2] === u) throw new TableError(`unit ${u} is defined in terms of itself`);
      raw.set(u, { n, unit: m[2] });
    }
    const resolve = (u: string, seen: string[]): { base: string; factor: Dec } => {
      const done = this.#base.get(u);
      if (done) return done;
      const r = raw.get(u);
      if (!r) return { base: u, factor: Dec.ONE };
      if (seen.includes(u)) throw new TableError(`units ${[...seen, u].join(' -> ')} form a cycle`);
      const next = resolve(r.unit, [...seen, u]);
      const res = { base: next.base, factor: Dec.mul(r.n, next.factor) };
      this.#base.set(u, res);
      return res;
    };
    for (const u of raw.keys()) resolve(u, []);
  }

  has(unit: string): boolean {
    return this.#base.has(unit) || [...this.#base.values()].some((b) => b.base === unit);
  }

  /** Factor to multiply a quantity in `from` by to get it in `to`, or null when not an exact decimal. */
  factor(from: string, to: string): Dec | null {
    const k = from + KEY_SEP + to;
    const hit = this.#pairs.get(k);
    if (hit !== undefined) return hit;
    const a = this.#base.get(from) ?? (this.has(from) ? { base: from, factor: Dec.ONE } : undefined);
    const b = this.#base.get(to) ?? (this.has(to) ? { base: to, factor: Dec.ONE } : undefined);
    if (!a || !b || a.base !== b.base)
      fault(`cannot convert ${JSON.stringify(from)} to ${JSON.stringify(to)} (no conversion declared in units:)`);
    let f: Dec | null;
    try {
      f = Dec.div(a.factor, b.factor);
    } catch {
      f = null;
    }
    this.#pairs.set(k, f);
    return f;
  }

  convert(q: unknown, from: unknown, to: unknown): Dec | null {
    const d = toDec(q);
    if (d === null || from === null || from === undefined || to === null || to === undefined) return null;
    const fu = String(from);
    const tu = String(to);
    if (fu === tu) return d;
    const f = this.factor(fu, tu);
    if (f !== null) return Dec.mul(d, f);
    // e.g. EA -> CS: divide, exactly
    const a = this.#base.get(fu)?.factor ?? Dec.ONE;
    const b = this.#base.get(tu)?.factor ?? Dec.ONE;
    return Dec.div(Dec.mul(d, a), b);
  }
}
