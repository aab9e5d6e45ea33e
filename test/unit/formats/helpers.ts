/** Helpers for the format tests: feed bytes in chunks, compare runs, resume from record ends. */
import { expect } from 'vitest';
import type { BoundFormat, DecodedRecord, StreamStart } from '../../../runtime/contracts/spi.ts';

export const FILE = 'in.dat';

export function bytes(x: string | Uint8Array | number[]): Buffer {
  if (typeof x === 'string') return Buffer.from(x, 'utf8');
  return Buffer.from(x);
}

/** Decode `data` fed in chunks of `chunk` bytes (Infinity: one push). */
export function decode(
  format: BoundFormat,
  data: Uint8Array,
  chunk = Number.POSITIVE_INFINITY,
  start: Partial<StreamStart> = {},
): { records: DecodedRecord[]; state: unknown } {
  const d = format.streamDecoder({ file: FILE, offset: 0, line: 1, ...start });
  const records: DecodedRecord[] = [];
  for (let o = 0; o < data.length; o += chunk) {
    for (const r of d.push(data.subarray(o, Math.min(data.length, o + chunk)))) records.push(r);
  }
  for (const r of d.end()) records.push(r);
  return { records, state: d.resumeState() };
}

/** Plain-data view of records (Uint8Array raw becomes an array) for deep equality. */
export function plain(records: DecodedRecord[]): unknown[] {
  return records.map((r) => JSON.parse(JSON.stringify({ ...r, raw: typeof r.raw === 'string' ? r.raw : [...r.raw] })));
}

/** Every chunk size 1..maxChunk gives exactly the records of a single push. */
export function expectChunkInvariant(format: BoundFormat, data: Uint8Array, maxChunk = data.length): DecodedRecord[] {
  const whole = decode(format, data).records;
  const expected = plain(whole);
  for (let chunk = 1; chunk <= Math.max(1, maxChunk); chunk++) {
    const got = plain(decode(format, data, chunk).records);
    if (JSON.stringify(got) !== JSON.stringify(expected))
      expect({ chunk, records: got }).toEqual({ chunk, records: expected });
  }
  return whole;
}

/**
 * Resuming at the end of every record (with the line and resume state a source would checkpoint) gives exactly the
 * records that follow it, whatever the chunk size. The state is sampled the way the file source does: after the
 * push()/end() call that returned the record, i.e. possibly after later records of the same call. Both byte-by-byte
 * and whole-input feeding are used for sampling.
 */
export function expectResumeInvariant(
  format: BoundFormat,
  data: Uint8Array,
  chunks: number[] = [Number.POSITIVE_INFINITY, 7],
): void {
  const expected = plain(decode(format, data).records);
  for (const feed of [1, Number.POSITIVE_INFINITY]) {
    const d = format.streamDecoder({ file: FILE, offset: 0, line: 1 });
    const all: Array<{ rec: DecodedRecord; state: unknown }> = [];
    const take = (recs: DecodedRecord[]) => {
      const state = d.resumeState();
      for (const rec of recs) all.push({ rec, state });
    };
    for (let o = 0; o < data.length; o += feed) take(d.push(data.subarray(o, Math.min(data.length, o + feed))));
    take(d.end());
    expect(plain(all.map((x) => x.rec))).toEqual(expected);
    for (let k = 0; k < all.length; k++) {
      const { rec, state } = all[k];
      // The file source does not resume at the end of the file (nothing is left to read), and rejects found only at
      // the end of input (e.g. a truncated document) have nothing to resume from.
      if (rec.end >= data.length) continue;
      for (const chunk of chunks) {
        const rest = decode(format, data.subarray(rec.end), chunk, {
          offset: rec.end,
          line: rec.endLine ?? 1,
          resume: JSON.parse(JSON.stringify(state ?? null)),
        });
        // A state sampled after later records does not know the column at this record's end (json and xml resume
        // mid-line): errors on the resume line may then come without a column. Everything else must match. (The
        // format tests check that columns are exact when the state matches the resume point.)
        const got = withoutColumnOnLine(plain(rest.records), rec.endLine);
        const want = withoutColumnOnLine(expected.slice(k + 1), rec.endLine);
        if (JSON.stringify(got) !== JSON.stringify(want))
          expect({ resumedAfter: k, feed, chunk, records: got }).toEqual({
            resumedAfter: k,
            feed,
            chunk,
            records: want,
          });
      }
    }
  }
}

function withoutColumnOnLine(records: unknown[], line: number | undefined): unknown[] {
  return records.map((r) => {
    const e = (r as { error?: { line?: number; column?: number; reason: string } }).error;
    if (!e || e.line !== line) return r;
    const { column: _, ...rest } = e;
    return { ...(r as object), error: { ...rest, reason: e.reason.replace(/, column \d+/, '') } };
  });
}

/** Byte offset of the n-th occurrence (0-based) of `needle` in `data`. */
export function offsetOf(data: Uint8Array, needle: string | number[], n = 0): number {
  const b = typeof needle === 'string' ? Buffer.from(needle) : Buffer.from(needle);
  let at = -1;
  for (let i = 0; i <= n; i++) {
    at = Buffer.from(data).indexOf(b, at + 1);
    if (at < 0) throw new Error(`needle not found: ${String(needle)}`);
  }
  return at;
}

export function values(records: DecodedRecord[]): unknown[] {
  return records.map((r) => (r.error ? { error: r.error.reason } : r.value));
}
