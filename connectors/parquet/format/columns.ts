/**
 * Column builders: accumulate one row group of values in compact typed arrays, dictionary-encoding as they go,
 * and hand the result over as ColumnChunkData (plain typed arrays, transferable to the writer thread).
 *
 * Dictionary policy (like parquet-cpp's): every column starts dictionary-encoded unless told otherwise; a column
 * falls back to PLAIN for the rest of the row group when its dictionary passes DICT_MAX_BYTES, or when after
 * DICT_PROBE values more than 90% of them were distinct (ids, references, timestamps), which saves both CPU and
 * bytes. The switch re-encodes what was accumulated, so a column chunk is all-dictionary or all-plain.
 */
import { ByteSink } from './bytes.ts';
import type { ColumnChunkData } from './encoder.ts';

export const DICT_MAX_BYTES = 1 << 20;
export const DICT_PROBE = 4096;
const MAX_DICT_ENTRIES = 1 << 20;

function grow<T extends Uint8Array | Int32Array | Float64Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  let n = Math.max(16, a.length * 2);
  while (n < need) n *= 2;
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

export type DictMode = 'auto' | 'always' | 'never';

/** The present values of a BYTE_ARRAY (UTF-8 string) column. */
export class StringValues {
  readonly #mode: DictMode;
  #dict = true;
  #map = new Map<string, number>();
  #entries: string[] = [];
  #entryChars = 0;
  #indices = new Int32Array(256);
  /**
   * Plain mode: the values of the current batch; seal() encodes them to UTF-8 in one call per batch (so the events'
   * own strings die young and the row group is held in one transferable buffer), with each value's byte length.
   */
  #plain: string[] = [];
  #bytes = new ByteSink(4096);
  #lengths = new Int32Array(256);
  #plainChars = 0;
  #last: string | undefined;
  #lastId = -1;
  n = 0;

  constructor(mode: DictMode) {
    this.#mode = mode;
    this.#dict = mode !== 'never';
  }

  /** Rough bytes held (for roll-by-size estimates). */
  get bytes(): number {
    return this.#dict ? this.#entryChars + this.#entries.length * 4 + this.n * 2 : this.#plainChars + this.n * 4;
  }

  add(v: string): void {
    if (!this.#dict) {
      this.#plain.push(v);
      this.n++;
      this.#plainChars += v.length;
      return;
    }
    let id: number | undefined;
    if (v === this.#last) id = this.#lastId;
    else {
      id = this.#map.get(v);
      if (id === undefined) {
        id = this.#entries.length;
        this.#map.set(v, id);
        this.#entries.push(v);
        this.#entryChars += v.length;
      }
      this.#last = v;
      this.#lastId = id;
    }
    if (this.n >= this.#indices.length) this.#indices = grow(this.#indices, this.n + 1);
    this.#indices[this.n++] = id;
    if (this.#mode === 'auto' ? (this.n === DICT_PROBE && this.#entries.length * 10 > this.n * 9) || this.#entryChars > DICT_MAX_BYTES : false) this.#toPlain();
    else if (this.#entries.length >= MAX_DICT_ENTRIES) this.#toPlain();
  }

  #toPlain(): void {
    this.#dict = false;
    const e = this.#entries;
    const plain = new Array<string>(this.n);
    this.#plainChars = 0;
    for (let i = 0; i < this.n; i++) {
      const v = e[this.#indices[i]];
      plain[i] = v;
      this.#plainChars += v.length;
    }
    this.#plain = plain;
    this.seal();
    this.#map = new Map();
    this.#entries = [];
    this.#indices = new Int32Array(0);
  }

  /** End of a batch: encode its plain values to UTF-8, in one call when they are ASCII. */
  seal(): void {
    const plain = this.#plain;
    const k = plain.length;
    if (k === 0) return;
    const from = this.n - k;
    if (this.n > this.#lengths.length) this.#lengths = grow(this.#lengths, this.n);
    const lengths = this.#lengths;
    const joined = plain.join('');
    const out = this.#bytes;
    out.ensure(joined.length * 3);
    const written = out.buf.write(joined, out.pos, 'utf8');
    if (written === joined.length) {
      // ASCII: one byte per character.
      for (let i = 0; i < k; i++) lengths[from + i] = plain[i].length;
      out.pos += written;
    } else {
      // Per value, so that a value's bytes never depend on its neighbours (e.g. lone surrogates).
      for (let i = 0; i < k; i++) {
        const n = out.buf.write(plain[i], out.pos, 'utf8');
        lengths[from + i] = n;
        out.pos += n;
      }
    }
    this.#plain = [];
  }

  /** Hands over the values (the builder is spent afterwards). */
  take(out: ColumnChunkData, transfer: ArrayBuffer[]): void {
    out.nonNull = this.n;
    if (this.#dict && this.n > 0) {
      out.encoding = 'dict';
      out.strings = utf8Strings(this.#entries, transfer);
      out.indices = this.#indices.subarray(0, this.n);
      out.dictSize = this.#entries.length;
      transfer.push(this.#indices.buffer);
    } else {
      this.seal();
      out.encoding = 'plain';
      out.strings = { data: this.#bytes.view(), lengths: this.#lengths.subarray(0, this.n) };
      transfer.push(this.#bytes.buf.buffer as ArrayBuffer, this.#lengths.buffer);
    }
  }
}

/** Strings as UTF-8 bytes back to back, with each one's length in bytes (transferable as is). */
export interface Utf8Strings {
  data: Uint8Array;
  lengths: Int32Array;
}

/** Encodes strings one by one (dictionary entries: few). */
export function utf8Strings(values: readonly string[], transfer?: ArrayBuffer[]): Utf8Strings {
  const out = new ByteSink(1024);
  const lengths = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out.ensure(values[i].length * 3);
    const n = out.buf.write(values[i], out.pos, 'utf8');
    lengths[i] = n;
    out.pos += n;
  }
  transfer?.push(out.buf.buffer as ArrayBuffer, lengths.buffer);
  return { data: out.view(), lengths };
}

/** The present values of an INT32/INT64 column, held exactly in doubles (plus BigInts beyond ±2^53). */
export class IntValues {
  readonly #mode: DictMode;
  #dict: boolean;
  #map = new Map<number, number>();
  #dictNums = new Float64Array(64);
  #dictSize = 0;
  #indices = new Int32Array(256);
  #nums = new Float64Array(256);
  #bigs: Array<[number, bigint]> = [];
  #last = Number.NaN;
  #lastId = -1;
  n = 0;

  constructor(mode: DictMode) {
    this.#mode = mode;
    this.#dict = mode !== 'never';
  }

  get bytes(): number {
    return this.#dict ? this.#dictSize * 8 + this.n * 2 : this.n * 8;
  }

  add(x: number): void {
    if (!this.#dict) {
      if (this.n >= this.#nums.length) this.#nums = grow(this.#nums, this.n + 1);
      this.#nums[this.n++] = x;
      return;
    }
    let id: number | undefined;
    if (x === this.#last) id = this.#lastId;
    else {
      id = this.#map.get(x);
      if (id === undefined) {
        id = this.#dictSize++;
        this.#map.set(x, id);
        if (id >= this.#dictNums.length) this.#dictNums = grow(this.#dictNums, id + 1);
        this.#dictNums[id] = x;
      }
      this.#last = x;
      this.#lastId = id;
    }
    if (this.n >= this.#indices.length) this.#indices = grow(this.#indices, this.n + 1);
    this.#indices[this.n++] = id;
    if (this.#mode === 'auto' && (this.n === DICT_PROBE ? this.#dictSize * 10 > this.n * 9 : this.#dictSize * 8 > DICT_MAX_BYTES)) this.#toPlain();
  }

  /** A value beyond ±2^53 (rare: huge decimals, far-future timestamps): kept exactly, column goes PLAIN. */
  addBig(x: bigint): void {
    if (this.#dict) this.#toPlain();
    if (this.n >= this.#nums.length) this.#nums = grow(this.#nums, this.n + 1);
    this.#bigs.push([this.n, x]);
    this.#nums[this.n++] = Number.NaN;
  }

  #toPlain(): void {
    this.#dict = false;
    this.#nums = grow(this.#nums, Math.max(this.n, 256));
    for (let i = 0; i < this.n; i++) this.#nums[i] = this.#dictNums[this.#indices[i]];
    this.#map = new Map();
    this.#dictNums = new Float64Array(0);
    this.#dictSize = 0;
    this.#indices = new Int32Array(0);
  }

  take(out: ColumnChunkData, transfer: ArrayBuffer[]): void {
    out.nonNull = this.n;
    if (this.#dict && this.n > 0) {
      out.encoding = 'dict';
      out.nums = this.#dictNums.subarray(0, this.#dictSize);
      out.indices = this.#indices.subarray(0, this.n);
      out.dictSize = this.#dictSize;
      transfer.push(this.#dictNums.buffer, this.#indices.buffer);
    } else {
      out.encoding = 'plain';
      out.nums = this.#nums.subarray(0, this.n);
      if (this.#bigs.length) out.bigs = this.#bigs;
      transfer.push(this.#nums.buffer);
    }
  }
}

/** Definition levels of an optional flat column (1 = present, 0 = null). */
class Defs {
  a = new Uint8Array(256);
  n = 0;
  push(d: number): void {
    if (this.n >= this.a.length) this.a = grow(this.a, this.n + 1);
    this.a[this.n++] = d;
  }
}

export class StringColumn {
  readonly optional: boolean;
  readonly values: StringValues;
  readonly #defs: Defs | undefined;
  count = 0;

  constructor(optional: boolean, mode: DictMode = 'auto') {
    this.optional = optional;
    this.values = new StringValues(mode);
    this.#defs = optional ? new Defs() : undefined;
  }

  /** null/undefined for an optional column; a required column gets '' rather than a null it cannot hold. */
  add(v: string | null | undefined): void {
    this.count++;
    if (v === null || v === undefined) {
      if (this.#defs) this.#defs.push(0);
      else this.values.add('');
      return;
    }
    this.#defs?.push(1);
    this.values.add(v);
  }

  get bytes(): number {
    return this.values.bytes + this.count / 8;
  }

  seal(): void {
    this.values.seal();
  }

  take(transfer: ArrayBuffer[]): ColumnChunkData {
    const out: ColumnChunkData = { count: this.count, nonNull: 0, encoding: 'plain' };
    if (this.#defs) {
      out.defs = this.#defs.a.subarray(0, this.count);
      transfer.push(this.#defs.a.buffer);
    }
    this.values.take(out, transfer);
    return out;
  }
}

export class IntColumn {
  readonly optional: boolean;
  readonly values: IntValues;
  readonly #defs: Defs | undefined;
  count = 0;

  constructor(optional: boolean, mode: DictMode = 'auto') {
    this.optional = optional;
    this.values = new IntValues(mode);
    this.#defs = optional ? new Defs() : undefined;
  }

  add(x: number): void {
    this.count++;
    this.#defs?.push(1);
    this.values.add(x);
  }

  addBig(x: bigint): void {
    this.count++;
    this.#defs?.push(1);
    this.values.addBig(x);
  }

  seal(): void {}

  addNull(): void {
    if (!this.#defs) throw new Error('null in a required column');
    this.count++;
    this.#defs.push(0);
  }

  get bytes(): number {
    return this.values.bytes + this.count / 8;
  }

  take(transfer: ArrayBuffer[]): ColumnChunkData {
    const out: ColumnChunkData = { count: this.count, nonNull: 0, encoding: 'plain' };
    if (this.#defs) {
      out.defs = this.#defs.a.subarray(0, this.count);
      transfer.push(this.#defs.a.buffer);
    }
    this.values.take(out, transfer);
    return out;
  }
}

/** An optional MAP<STRING, STRING> column: two leaves (key, value) sharing repetition/definition levels. */
export class MapColumn {
  readonly keys = new StringValues('auto');
  readonly vals = new StringValues('auto');
  #reps = new Uint8Array(256);
  #defs = new Uint8Array(256);
  #rowStarts = new Int32Array(256);
  entries = 0;
  rows = 0;

  #entry(rep: number, def: number): void {
    if (this.entries >= this.#reps.length) {
      this.#reps = grow(this.#reps, this.entries + 1);
      this.#defs = grow(this.#defs, this.entries + 1);
    }
    this.#reps[this.entries] = rep;
    this.#defs[this.entries++] = def;
  }

  add(m: Readonly<Record<string, string>> | null | undefined): void {
    if (this.rows + 1 >= this.#rowStarts.length) this.#rowStarts = grow(this.#rowStarts, this.rows + 2);
    this.#rowStarts[this.rows++] = this.entries;
    if (m === null || m === undefined) {
      this.#entry(0, 0);
      return;
    }
    let rep = 0;
    for (const k in m) {
      const v = m[k];
      this.#entry(rep, 2);
      rep = 1;
      this.keys.add(k);
      this.vals.add(typeof v === 'string' ? v : String(v));
    }
    if (rep === 0) this.#entry(0, 1); // empty map
  }

  get bytes(): number {
    return this.keys.bytes + this.vals.bytes + this.entries / 4;
  }

  seal(): void {
    this.keys.seal();
    this.vals.seal();
  }

  /** Two column chunks: key then value. */
  take(transfer: ArrayBuffer[]): [ColumnChunkData, ColumnChunkData] {
    this.#rowStarts[this.rows] = this.entries;
    const reps = this.#reps.subarray(0, this.entries);
    const defs = this.#defs.subarray(0, this.entries);
    const rowStarts = this.#rowStarts.subarray(0, this.rows + 1);
    transfer.push(this.#reps.buffer, this.#defs.buffer, this.#rowStarts.buffer);
    const k: ColumnChunkData = { count: this.entries, reps, defs, rowStarts, nonNull: 0, encoding: 'plain' };
    const v: ColumnChunkData = { count: this.entries, reps, defs, rowStarts, nonNull: 0, encoding: 'plain' };
    this.keys.take(k, transfer);
    this.vals.take(v, transfer);
    return [k, v];
  }
}
