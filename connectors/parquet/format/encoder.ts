/**
 * Encodes row groups of shredded columns (see ColumnChunkData) into Parquet pages, and the footer.
 *
 * Layout per column chunk: an optional dictionary page (PLAIN), then data pages v1 of at most `pageRows` rows,
 * each `[repetition levels][definition levels][values]` compressed as one block. Values are RLE_DICTIONARY indices
 * or PLAIN. Column chunk statistics (min/max, null count) are written for flat columns, with the type-defined
 * column order so readers can prune row groups.
 */
import { constants as zc, zstdCompressSync } from 'node:zlib';
import { ByteSink } from './bytes.ts';
import type { Utf8Strings } from './columns.ts';
import { bitWidth, encodeHybrid, encodeLevels } from './rle.ts';
import { type Field, type Leaf, leaves, PHYSICAL, schemaElements } from './schema.ts';
import { binary, encodeStruct, i16, i32, i64, list, opt, struct, type ThriftStruct, type ThriftValue } from './thrift.ts';

/** One column chunk of a row group, as shredded by the sink (all arrays are plain typed arrays: transferable). */
export interface ColumnChunkData {
  /** Number of level entries (rows for a flat column; map entries, plus one per null or empty map, for a map leaf). */
  count: number;
  /** Definition level per entry (when maxDef > 0). */
  defs?: Uint8Array;
  /** Repetition level per entry (map leaves). */
  reps?: Uint8Array;
  /** Map leaves: entry index where each row starts; rows + 1 items. */
  rowStarts?: Int32Array;
  /** Values actually present (entries whose definition level is the maximum). */
  nonNull: number;
  encoding: 'dict' | 'plain';
  /** BYTE_ARRAY: the present values (plain) or the dictionary entries (dict). */
  strings?: Utf8Strings;
  /** INT32/INT64: the values (plain) or dictionary entries (dict); NaN marks an exact value held in `bigs`. */
  nums?: Float64Array;
  /** Values beyond ±2^53: [index into nums, exact value]. */
  bigs?: Array<[number, bigint]>;
  /** dict: dictionary index of each present value. */
  indices?: Int32Array;
  dictSize?: number;
}

export interface RowGroupData {
  rows: number;
  columns: ColumnChunkData[];
}

export type Codec = 'snappy' | 'zstd' | 'none';
const CODEC_ID: Record<Codec, number> = { none: 0, snappy: 1, zstd: 6 };
const ENC = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 };

export interface EncoderOptions {
  codec: Codec;
  zstdLevel?: number;
  /** Rows per data page. */
  pageRows?: number;
  createdBy: string;
  /** Key/value metadata for the footer. */
  metadata?: Record<string, string>;
}

type Compress = (b: Uint8Array) => Uint8Array;

let snappyCompress: Compress | undefined;
async function loadSnappy(): Promise<Compress> {
  if (!snappyCompress) {
    const m = (await import('snappy')) as unknown as { compressSync(b: Buffer): Buffer; default?: { compressSync(b: Buffer): Buffer } };
    const f = m.compressSync ?? m.default!.compressSync;
    snappyCompress = (b) => f(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  return snappyCompress;
}

export async function compressor(codec: Codec, zstdLevel = 3): Promise<Compress> {
  if (codec === 'snappy') return loadSnappy();
  if (codec === 'zstd') return (b) => zstdCompressSync(b, { params: { [zc.ZSTD_c_compressionLevel]: zstdLevel } });
  return (b) => b;
}

interface ChunkMeta {
  leaf: Leaf;
  encodings: number[];
  numValues: number;
  uncompressed: number;
  compressed: number;
  dataPageOffset: number;
  dictPageOffset?: number;
  stats?: ThriftStruct;
}

interface RowGroupMeta {
  rows: number;
  offset: number;
  bytes: number;
  compressed: number;
  chunks: ChunkMeta[];
}

export const MAGIC = Buffer.from('PAR1');

/**
 * Encodes one file: header magic, row groups, footer. The caller writes the returned buffers in order; the
 * encoder tracks offsets. Stateless about I/O, so it runs in a worker thread or inline.
 */
export class ParquetEncoder {
  readonly #fields: readonly Field[];
  readonly #leaves: Leaf[];
  readonly #opts: EncoderOptions;
  readonly #compress: Compress;
  readonly #pageRows: number;
  #offset = 0;
  /** Reused for every page body (compression copies it out): little garbage per row group. */
  readonly #scratch = new ByteSink(1 << 20);
  #rowGroups: RowGroupMeta[] = [];
  #rows = 0;

  constructor(fields: readonly Field[], opts: EncoderOptions, compress: Compress) {
    this.#fields = fields;
    this.#leaves = leaves(fields);
    this.#opts = opts;
    this.#compress = compress;
    this.#pageRows = opts.pageRows ?? 20_000;
  }

  get rows(): number {
    return this.#rows;
  }

  get offset(): number {
    return this.#offset;
  }

  /** The file header. */
  start(): Uint8Array[] {
    this.#offset = 4;
    return [MAGIC];
  }

  rowGroup(rg: RowGroupData): Uint8Array[] {
    if (rg.columns.length !== this.#leaves.length) throw new Error(`row group has ${rg.columns.length} columns, schema has ${this.#leaves.length}`);
    const out: Uint8Array[] = [];
    const start = this.#offset;
    const meta: RowGroupMeta = { rows: rg.rows, offset: start, bytes: 0, compressed: 0, chunks: [] };
    for (let c = 0; c < this.#leaves.length; c++) {
      const chunk = this.#chunk(this.#leaves[c], rg.columns[c], rg.rows, out);
      meta.chunks.push(chunk);
      meta.bytes += chunk.uncompressed;
      meta.compressed += chunk.compressed;
    }
    this.#rowGroups.push(meta);
    this.#rows += rg.rows;
    return out;
  }

  #emit(out: Uint8Array[], b: Uint8Array): void {
    out.push(b);
    this.#offset += b.length;
  }

  /** Compresses a page body and emits header + body; returns [uncompressed, compressed] sizes incl. header. */
  #page(out: Uint8Array[], header: (uncompressed: number, compressed: number) => ThriftStruct, body: Uint8Array): [number, number] {
    const packed = this.#compress(body);
    const h = encodeStruct(header(body.length, packed.length));
    this.#emit(out, h);
    this.#emit(out, packed === body ? Uint8Array.from(body) : packed);
    return [h.length + body.length, h.length + packed.length];
  }

  #chunk(leaf: Leaf, d: ColumnChunkData, rows: number, out: Uint8Array[]): ChunkMeta {
    const meta: ChunkMeta = {
      leaf,
      encodings: d.encoding === 'dict' ? [ENC.PLAIN, ENC.RLE, ENC.RLE_DICTIONARY] : [ENC.PLAIN, ENC.RLE],
      numValues: d.count,
      uncompressed: 0,
      compressed: 0,
      dataPageOffset: 0,
    };
    const utf8 = leaf.physical === 'BYTE_ARRAY' ? utf8Values(d.strings!) : undefined;
    if (d.encoding === 'dict') {
      meta.dictPageOffset = this.#offset;
      let body: Uint8Array;
      if (utf8) {
        const dict = this.#scratch;
        dict.reset();
        plainStrings(dict, utf8, 0, d.dictSize!);
        body = dict.view();
      } else {
        this.#scratch.reset();
        writeNums(this.#scratch, leaf, d.nums!, d.bigs, 0, d.dictSize!);
        body = this.#scratch.view();
      }
      const [u, c] = this.#page(
        out,
        (un, co) => ({ 1: i32(2), 2: i32(un), 3: i32(co), 7: struct({ 1: i32(d.dictSize!), 2: i32(ENC.PLAIN) }) }),
        body,
      );
      meta.uncompressed += u;
      meta.compressed += c;
    }
    meta.dataPageOffset = this.#offset;
    const page = this.#scratch;
    const width = d.encoding === 'dict' ? bitWidth(d.dictSize! - 1) : 0;
    let value = 0; // index of the next present value
    for (let r0 = 0; r0 < rows; r0 += this.#pageRows) {
      const r1 = Math.min(rows, r0 + this.#pageRows);
      const e0 = d.rowStarts ? d.rowStarts[r0] : r0;
      const e1 = d.rowStarts ? d.rowStarts[r1] : r1;
      page.reset();
      if (leaf.maxRep > 0) encodeLevels(page, d.reps!, leaf.maxRep, e0, e1);
      let present = e1 - e0;
      if (leaf.maxDef > 0) {
        encodeLevels(page, d.defs!, leaf.maxDef, e0, e1);
        present = 0;
        const defs = d.defs!;
        for (let e = e0; e < e1; e++) if (defs[e] === leaf.maxDef) present++;
      }
      const v0 = value;
      const v1 = value + present;
      value = v1;
      if (d.encoding === 'dict') {
        page.byte(width);
        encodeHybrid(page, d.indices!, width, v0, v1);
      } else if (utf8) plainStrings(page, utf8, v0, v1);
      else writeNums(page, leaf, d.nums!, d.bigs, v0, v1);
      const [u, c] = this.#page(
        out,
        (un, co) => ({
          1: i32(0),
          2: i32(un),
          3: i32(co),
          5: struct({ 1: i32(e1 - e0), 2: i32(d.encoding === 'dict' ? ENC.RLE_DICTIONARY : ENC.PLAIN), 3: i32(ENC.RLE), 4: i32(ENC.RLE) }),
        }),
        page.view(),
      );
      meta.uncompressed += u;
      meta.compressed += c;
    }
    if (!leaf.inMap) meta.stats = statistics(leaf, d, utf8);
    return meta;
  }

  /** The footer: FileMetaData, its length, and the closing magic. */
  finish(): Uint8Array[] {
    const rowGroups = this.#rowGroups.map((rg, ordinal) =>
      struct({
        1: list(
          'struct',
          rg.chunks.map((c) =>
            struct({
              2: i64(c.dictPageOffset ?? c.dataPageOffset),
              3: struct({
                1: i32(PHYSICAL[c.leaf.physical]),
                2: list('i32', c.encodings.map(i32)),
                3: list('binary', c.leaf.path.map(binary)),
                4: i32(CODEC_ID[this.#opts.codec]),
                5: i64(c.numValues),
                6: i64(c.uncompressed),
                7: i64(c.compressed),
                9: i64(c.dataPageOffset),
                11: opt(c.dictPageOffset, i64),
                12: opt(c.stats, struct),
              }),
            }),
          ),
        ),
        2: i64(rg.bytes),
        3: i64(rg.rows),
        5: i64(rg.offset),
        6: i64(rg.compressed),
        7: i16(ordinal),
      }),
    );
    const kv = Object.entries(this.#opts.metadata ?? {}).map(([k, v]) => struct({ 1: binary(k), 2: binary(v) }));
    const meta = encodeStruct({
      1: i32(2),
      2: schemaElements(this.#fields),
      3: i64(this.#rows),
      4: list('struct', rowGroups),
      5: kv.length ? list('struct', kv) : undefined,
      6: binary(this.#opts.createdBy),
      7: list(
        'struct',
        this.#leaves.map(() => struct({ 1: struct({}) })),
      ),
    });
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(meta.length, 0);
    this.#offset += meta.length + 8;
    return [meta, len, MAGIC];
  }
}

/** PLAIN encoding of nums[from..to) as INT32 or INT64, appended to out. */
function writeNums(out: ByteSink, leaf: Leaf, nums: Float64Array, bigs: Array<[number, bigint]> | undefined, from: number, to: number): void {
  const n = to - from;
  const size = leaf.physical === 'INT32' ? 4 : 8;
  out.ensure(n * size + 8);
  const buf = out.buf;
  let p = out.pos;
  if (leaf.physical === 'INT32') {
    for (let i = from; i < to; i++, p += 4) buf.writeInt32LE(nums[i], p);
  } else {
    for (let i = from; i < to; i++, p += 8) {
      const x = nums[i];
      if (!Number.isNaN(x)) {
        // ToUint32 gives the low word (two's complement), floor(x / 2^32) the high one.
        buf.writeUInt32LE(x >>> 0, p);
        buf.writeInt32LE(Math.floor(x / 4294967296), p + 4);
      } else buf.writeBigInt64LE(bigOf(bigs, i), p);
    }
  }
  out.pos = p;
}

/** PLAIN encoding of nums[from..to) as a new buffer (tests). */
function encodeNums(leaf: Leaf, nums: Float64Array, bigs: Array<[number, bigint]> | undefined, from: number, to: number): Uint8Array {
  const out = new ByteSink(16);
  writeNums(out, leaf, nums, bigs, from, to);
  return out.take();
}

function bigOf(bigs: Array<[number, bigint]> | undefined, i: number): bigint {
  const hit = bigs?.find(([j]) => j === i);
  if (!hit) throw new Error(`int64 value ${i} is missing`);
  return hit[1];
}

interface Utf8Values {
  data: Buffer;
  /** Byte offset of each value in data (n + 1 items). */
  off: Int32Array;
}

/** Byte offsets of each value (n + 1 items). */
export function utf8Values(s: Utf8Strings): Utf8Values {
  const { data, lengths } = s;
  const n = lengths.length;
  const off = new Int32Array(n + 1);
  let p = 0;
  for (let i = 0; i < n; i++) {
    off[i] = p;
    p += lengths[i];
  }
  off[n] = p;
  return { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), off };
}

/** PLAIN BYTE_ARRAY encoding of values [v0, v1): 4-byte little-endian length, then the bytes. */
function plainStrings(out: ByteSink, u: Utf8Values, v0: number, v1: number): void {
  const { data, off } = u;
  out.ensure(off[v1] - off[v0] + 4 * (v1 - v0));
  const buf = out.buf;
  let p = out.pos;
  for (let i = v0; i < v1; i++) {
    const a = off[i];
    const b = off[i + 1];
    const len = b - a;
    buf[p] = len & 0xff;
    buf[p + 1] = (len >>> 8) & 0xff;
    buf[p + 2] = (len >>> 16) & 0xff;
    buf[p + 3] = len >>> 24;
    p += 4;
    if (len < 64) for (let j = a; j < b; j++) buf[p++] = data[j];
    else {
      data.copy(buf, p, a, b);
      p += len;
    }
  }
  out.pos = p;
}

/** Unsigned byte-wise comparison of values i and j. */
function compareValues(data: Buffer, off: Int32Array, i: number, j: number): number {
  const a0 = off[i];
  const la = off[i + 1] - a0;
  const b0 = off[j];
  const lb = off[j + 1] - b0;
  const n = Math.min(la, lb);
  let k = 0;
  // Four bytes at a time (big endian keeps the byte order), then the rest.
  for (; k + 4 <= n; k += 4) {
    const x = data.readUInt32BE(a0 + k);
    const y = data.readUInt32BE(b0 + k);
    if (x !== y) return x < y ? -1 : 1;
  }
  for (; k < n; k++) {
    const d = data[a0 + k] - data[b0 + k];
    if (d !== 0) return d;
  }
  return la - lb;
}

const MAX_STAT_BYTES = 256;

function statistics(leaf: Leaf, d: ColumnChunkData, utf8?: Utf8Values): ThriftStruct | undefined {
  const s: ThriftStruct = { 3: i64(d.count - d.nonNull) };
  if (d.nonNull === 0) return s;
  if (utf8) {
    const n = d.encoding === 'dict' ? d.dictSize! : d.nonNull;
    const { data, off } = utf8;
    let min = 0;
    let max = 0;
    for (let i = 1; i < n; i++) {
      if (compareValues(data, off, i, min) < 0) min = i;
      else if (compareValues(data, off, i, max) > 0) max = i;
    }
    if (off[min + 1] - off[min] > MAX_STAT_BYTES || off[max + 1] - off[max] > MAX_STAT_BYTES) return s;
    s[5] = binary(Uint8Array.from(data.subarray(off[max], off[max + 1])));
    s[6] = binary(Uint8Array.from(data.subarray(off[min], off[min + 1])));
    return s;
  }
  const n = d.encoding === 'dict' ? d.dictSize! : d.nonNull;
  const nums = d.nums!;
  let min: number | bigint | undefined;
  let max: number | bigint | undefined;
  for (let i = 0; i < n; i++) {
    const x: number | bigint = Number.isNaN(nums[i]) ? bigOf(d.bigs, i) : nums[i];
    if (min === undefined || x < min) min = x;
    if (max === undefined || x > max) max = x;
  }
  const enc = (x: number | bigint): Uint8Array => {
    const b = Buffer.alloc(leaf.physical === 'INT32' ? 4 : 8);
    if (leaf.physical === 'INT32') b.writeInt32LE(Number(x), 0);
    else b.writeBigInt64LE(BigInt(x), 0);
    return b;
  };
  s[5] = binary(enc(max!));
  s[6] = binary(enc(min!));
  return s;
}

export type { Field, Leaf } from './schema.ts';
export { leaves } from './schema.ts';
export const _internal = { encodeNums };
export type { ThriftValue };
