/** Encoding primitives of the Parquet writer: RLE/bit-packing, Thrift compact, value parsing, names and paths. */
import { describe, expect, it } from 'vitest';
import { dayString, parseInstant, parseQuantity } from '../../../connectors/parquet/events.ts';
import { ByteSink } from '../../../connectors/parquet/format/bytes.ts';
import { StringValues } from '../../../connectors/parquet/format/columns.ts';
import { _internal, type ColumnChunkData, utf8Values } from '../../../connectors/parquet/format/encoder.ts';
import { bitWidth, encodeHybrid } from '../../../connectors/parquet/format/rle.ts';
import { leaves } from '../../../connectors/parquet/format/schema.ts';
import { encodeStruct, i32, i64, list, binary, struct, bool } from '../../../connectors/parquet/format/thrift.ts';
import { escapePartitionValue, fileName, isoMicros } from '../../../connectors/parquet/sink.ts';

/** Reference decoder of the RLE / bit-packing hybrid, written from the spec. */
function decodeHybrid(buf: Uint8Array, width: number, count: number): number[] {
  const out: number[] = [];
  let p = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (out.length < count) {
    const h = varint();
    if (h & 1) {
      const n = (h >>> 1) * 8;
      let bitPos = 0;
      const start = p;
      for (let i = 0; i < n; i++) {
        let v = 0;
        for (let b = 0; b < width; b++, bitPos++) v |= ((buf[start + (bitPos >> 3)] >> (bitPos & 7)) & 1) << b;
        out.push(v);
      }
      p = start + (h >>> 1) * width;
    } else {
      const n = h >>> 1;
      let v = 0;
      for (let b = 0; b < (width + 7) >> 3; b++) v |= buf[p++] << (8 * b);
      for (let i = 0; i < n; i++) out.push(v);
    }
  }
  expect(p).toBe(buf.length); // consumed exactly
  return out.slice(0, count);
}

function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('RLE / bit-packing hybrid', () => {
  it('round-trips runs, noise and mixtures at every width', () => {
    const rand = prng(42);
    for (const width of [1, 2, 3, 5, 8, 12, 17, 20]) {
      const max = 2 ** width - 1;
      for (const shape of ['runs', 'noise', 'mixed', 'short'] as const) {
        const n = shape === 'short' ? 1 + Math.floor(rand() * 15) : 5000;
        const v: number[] = [];
        while (v.length < n) {
          const x = Math.floor(rand() * (max + 1));
          const len = shape === 'noise' ? 1 : shape === 'runs' ? 1 + Math.floor(rand() * 200) : rand() < 0.5 ? 1 : Math.floor(rand() * 40);
          for (let i = 0; i < len && v.length < n; i++) v.push(x);
        }
        const out = new ByteSink(16);
        encodeHybrid(out, v, width);
        expect(decodeHybrid(out.view(), width, n), `${shape} width ${width}`).toEqual(v);
      }
    }
  });

  it('encodes a constant column as a single RLE run', () => {
    const out = new ByteSink(16);
    encodeHybrid(out, new Array(100_000).fill(1), 1);
    expect([...out.view()]).toEqual([0xc0, 0x9a, 0x0c, 0x01]); // varint(100000 << 1), value 1
  });

  it('encodes a sub-range', () => {
    const v = [9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0];
    const out = new ByteSink(16);
    encodeHybrid(out, v, 4, 2, 10);
    expect(decodeHybrid(out.view(), 4, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('computes bit widths', () => {
    expect([0, 1, 2, 3, 4, 255, 256].map(bitWidth)).toEqual([0, 1, 2, 2, 3, 8, 9]);
  });
});

describe('Thrift compact protocol', () => {
  it('writes field deltas, zigzag varints, binaries, lists and nested structs', () => {
    const bytes = encodeStruct({ 1: i32(1), 2: i32(-2), 4: binary('ab'), 5: bool(true), 6: list('i32', [i32(0), i32(3)]), 30: i64(300), 31: struct({ 1: bool(false) }) });
    expect([...bytes]).toEqual([
      0x15, 0x02, // field 1 i32: zigzag(1) = 2
      0x15, 0x03, // field 2 i32: zigzag(-2) = 3
      0x28, 0x02, 0x61, 0x62, // field 4 (delta 2) binary "ab"
      0x11, // field 5 bool true
      0x19, 0x25, 0x00, 0x06, // field 6 list<i32>[2]: 0, 3 → zigzag 0, 6
      0x06, 0x3c, 0xd8, 0x04, // field 30 (delta 24: long form, zigzag(30) = 60) i64: zigzag(300) = 600
      0x1c, 0x12, 0x00, // field 31 struct { 1: false }
      0x00, // stop
    ]);
  });
});

describe('value parsing', () => {
  it('parses canonical quantities exactly, to thousandths', () => {
    expect(parseQuantity('0.000')).toBe(0);
    expect(parseQuantity('-2.500')).toBe(-2500);
    expect(parseQuantity('12.345')).toBe(12345);
    expect(parseQuantity('999999999999.999')).toBe(999_999_999_999_999);
    expect(parseQuantity('999999999999999.999')).toBe(999_999_999_999_999_999n);
    expect(parseQuantity('-999999999999999.999')).toBe(-999_999_999_999_999_999n);
    expect(parseQuantity('9007199254740.991')).toBe(9_007_199_254_740_991);
    expect(parseQuantity('9007199254740.993')).toBe(9_007_199_254_740_993n);
    for (const bad of ['-0.000', '1.5', '01.000', '1.0000', '', '1e3.000', '+1.000', '1000000000000000.000', 3, null])
      expect(parseQuantity(bad), String(bad)).toBeUndefined();
  });

  it('parses canonical instants to microseconds and UTC days', () => {
    const at = { us: 0, day: 0 };
    expect(parseInstant('1970-01-01T00:00:00Z', at)).toBe(true);
    expect(at).toEqual({ us: 0, day: 0 });
    expect(parseInstant('2026-11-21T10:15:02.123Z', at)).toBe(true);
    expect(at.us).toBe(Date.parse('2026-11-21T10:15:02.123Z') * 1000);
    expect(dayString(at.day)).toBe('2026-11-21');
    expect(parseInstant('2026-11-21T10:15:02.123456Z', at)).toBe(true);
    expect(at.us).toBe(Date.parse('2026-11-21T10:15:02.123Z') * 1000 + 456);
    expect(parseInstant('1969-12-31T23:59:59.999999Z', at)).toBe(true);
    expect(at).toEqual({ us: -1, day: -1 });
    expect(parseInstant('2024-02-29T00:00:00Z', at)).toBe(true);
    for (const bad of ['2026-02-29T00:00:00Z', '2026-11-21T24:00:00Z', '2026-11-21 10:15:02Z', '2026-11-21T10:15:02.12Z', '2026-11-21T10:15:02+01:00', 'x'])
      expect(parseInstant(bad, at), bad).toBe(false);
  });

  it('prints microsecond instants', () => {
    expect(isoMicros(Date.parse('2026-11-21T10:15:02.123Z') * 1000 + 456)).toBe('2026-11-21T10:15:02.123456Z');
    expect(isoMicros(-1)).toBe('1969-12-31T23:59:59.999999Z');
  });

  it('encodes int64 values, negative and beyond 2^53, as two\'s complement little endian', () => {
    const leaf = leaves([{ kind: 'column', name: 'q', physical: 'INT64', optional: false }])[0];
    const vals = [0, -1, 1, -2500, 2 ** 40 + 7, -(2 ** 52), Number.NaN];
    const bytes = _internal.encodeNums(leaf, Float64Array.from(vals), [[6, -(10n ** 18n) + 1n]], 0, vals.length);
    const got = [...new BigInt64Array(bytes.buffer, bytes.byteOffset, vals.length)];
    expect(got).toEqual([0n, -1n, 1n, -2500n, 2n ** 40n + 7n, -(2n ** 52n), -(10n ** 18n) + 1n]);
  });

  it('encodes strings to UTF-8 per value, also outside ASCII and with lone surrogates', () => {
    const batches = [['a', 'bc', ''], ['Grüße', '', '日本', '\ud83d', '\ude00', '😀', 'z']];
    for (const mode of ['never', 'always'] as const) {
      const sv = new StringValues(mode);
      for (const b of batches) {
        for (const v of b) sv.add(v);
        sv.seal();
      }
      const out: ColumnChunkData = { count: 0, nonNull: 0, encoding: 'plain' };
      sv.take(out, []);
      const u = utf8Values(out.strings!);
      const values = Array.from(out.strings!.lengths, (_, i) => u.data.subarray(u.off[i], u.off[i + 1]).toString('utf8'));
      const decoded = mode === 'never' ? values : Array.from(out.indices!, (i) => values[i]);
      expect(decoded, mode).toEqual(['a', 'bc', '', 'Grüße', '', '日本', '\ufffd', '\ufffd', '😀', 'z']);
    }
  });
});

describe('partition paths and file names', () => {
  it('escapes partition values like Hive, one path segment each', () => {
    expect(escapePartitionValue('S001')).toBe('S001');
    expect(escapePartitionValue('a/b=c%d:e')).toBe('a%2Fb%3Dc%25d%3Ae');
    expect(escapePartitionValue('..')).toBe('..');
    expect(escapePartitionValue('')).toBe('__HIVE_DEFAULT_PARTITION__');
    expect(escapePartitionValue(null)).toBe('__HIVE_DEFAULT_PARTITION__');
    expect(escapePartitionValue('x\ny')).toBe('x%0Ay');
  });

  it('names files uniquely, sortable by time, never with a prefix readers skip', () => {
    const a = fileName('store sales/1', 1, new Date('2026-11-21T10:15:02.123Z'));
    const b = fileName('store sales/1', 2, new Date('2026-11-21T10:15:02.124Z'));
    expect(a).toMatch(/^20261121T101502123Z-store_sales_1-000001-[0-9a-f]{8}\.parquet$/);
    expect(a < b).toBe(true);
    expect(fileName('p', 1, new Date(0))).not.toBe(fileName('p', 1, new Date(0)));
  });
});
