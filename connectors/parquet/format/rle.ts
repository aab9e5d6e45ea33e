/**
 * Parquet's RLE / bit-packing hybrid encoding (definition and repetition levels, dictionary indices).
 *
 *   run := rle-run | bit-packed-run
 *   rle-run := varint(count << 1) value (ceil(bitWidth / 8) bytes, little endian)
 *   bit-packed-run := varint(groups << 1 | 1) groups × 8 values packed LSB first in bitWidth bits each
 *
 * Runs of 8 or more equal values become RLE runs; everything else is bit-packed in groups of 8 (the last group is
 * padded with zeros: readers stop after the number of values they expect).
 */
import type { ByteSink } from './bytes.ts';

/** Bits needed to store values 0..maxValue. */
export function bitWidth(maxValue: number): number {
  return maxValue <= 0 ? 0 : 32 - Math.clz32(maxValue);
}

type Values = ArrayLike<number>;

function runLength(v: Values, start: number, end: number): number {
  const x = v[start];
  let j = start + 1;
  while (j < end && v[j] === x) j++;
  return j - start;
}

/** Appends the hybrid encoding of v[start..end) to out (no length prefix). */
export function encodeHybrid(out: ByteSink, v: Values, width: number, start = 0, end = v.length): void {
  if (width === 0) {
    // Every value is 0: one RLE run with a zero-byte value.
    if (end > start) out.varint((end - start) * 2);
    return;
  }
  const valueBytes = (width + 7) >> 3;
  let pos = start;
  while (pos < end) {
    const run = runLength(v, pos, end);
    if (run >= 8) {
      out.varint(run * 2);
      let x = v[pos];
      for (let b = 0; b < valueBytes; b++) {
        out.byte(x & 0xff);
        x >>>= 8;
      }
      pos += run;
      continue;
    }
    // Bit-packed: groups of 8 until a run of 8+ equal values starts at a group boundary.
    const from = pos;
    let groups = 0;
    while (pos < end) {
      pos += 8;
      groups++;
      if (pos >= end || groups >= 63) break;
      if (runLength(v, pos, Math.min(end, pos + 8)) >= 8) break;
    }
    out.byte((groups << 1) | 1);
    packGroups(out, v, from, end, groups, width);
    if (pos > end) pos = end;
  }
}

function packGroups(out: ByteSink, v: Values, from: number, end: number, groups: number, width: number): void {
  const n = groups * 8;
  out.ensure(groups * width);
  const buf = out.buf;
  let p = out.pos;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < n; i++) {
    const idx = from + i;
    const x = idx < end ? v[idx] : 0;
    // width <= 24 keeps acc within 32 bits (at most 7 leftover bits + 24).
    acc |= x << bits;
    bits += width;
    while (bits >= 8) {
      buf[p++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) buf[p++] = acc & 0xff;
  out.pos = p;
}

/** Levels with the 4-byte little-endian length prefix that data page v1 uses. */
export function encodeLevels(out: ByteSink, levels: Values, maxLevel: number, start: number, end: number): void {
  const at = out.pos;
  out.u32(0);
  encodeHybrid(out, levels, bitWidth(maxLevel), start, end);
  out.setU32(at, out.pos - at - 4);
}
