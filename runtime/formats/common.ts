/**
 * Helpers shared by the input formats: encodings, UTF-8 validation, byte-offset arithmetic, the growable byte
 * queue that holds the current partial record between chunks, and small option-schema pieces.
 */
import { isUtf8 } from 'node:buffer';
import type { JsonSchema } from '../contracts/spi.ts';

// ---------------------------------------------------------------------------------------------------------------
// Encodings

/** Text encodings the text formats decode. */
export type Encoding = 'utf-8' | 'iso-8859-1' | 'windows-1252';

const ENCODING_ALIASES: Readonly<Record<string, Encoding>> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'iso-8859-1': 'iso-8859-1',
  latin1: 'iso-8859-1',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
};

export const ENCODING_VALUES = Object.keys(ENCODING_ALIASES);

/** JSON Schema of an `encoding` option. */
export function encodingSchema(extra = ''): JsonSchema {
  return {
    type: 'string',
    enum: ENCODING_VALUES,
    default: 'utf-8',
    description:
      'Character encoding of the input: utf-8 (invalid byte sequences reject the record), iso-8859-1 (latin1) or ' +
      `windows-1252 (cp1252). A UTF-8 byte order mark at the start of the file is skipped.${extra}`,
  };
}

export function normalizeEncoding(name: unknown, fallback: Encoding = 'utf-8'): Encoding {
  if (name === undefined || name === null) return fallback;
  const e = ENCODING_ALIASES[String(name).toLowerCase()];
  if (!e) throw new Error(`unsupported encoding '${String(name)}' (supported: ${ENCODING_VALUES.join(', ')})`);
  return e;
}

/** Windows-1252 code points for bytes 0x80..0x9F (the 5 unassigned bytes map to the C1 control, as in WHATWG). */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
].map((c) => String.fromCharCode(c));
const C1_TEST = /[\x80-\x9f]/;
const C1_ALL = /[\x80-\x9f]/g;
const cp1252Char = (c: string): string => CP1252_HIGH[c.charCodeAt(0) - 0x80];

/**
 * Decode bytes [start, end) of a buffer. Single-byte encodings give exactly one UTF-16 unit per byte. UTF-8 input
 * must have been validated (invalid sequences would come out as U+FFFD).
 */
export function decodeBytes(buf: Buffer, start: number, end: number, enc: Encoding): string {
  if (enc === 'utf-8') return buf.toString('utf8', start, end);
  const s = buf.toString('latin1', start, end);
  if (enc === 'windows-1252' && C1_TEST.test(s)) return s.replace(C1_ALL, cp1252Char);
  return s;
}

/** True when every char of the encoding occupies exactly one byte (char index == byte index). */
export function singleByte(enc: Encoding): boolean {
  return enc !== 'utf-8';
}

// ---------------------------------------------------------------------------------------------------------------
// UTF-8

/** True when bytes [start, end) are valid UTF-8 (native, SIMD). */
export function validUtf8(buf: Buffer, start: number, end: number): boolean {
  return start >= end || isUtf8(buf.subarray(start, end));
}

/**
 * Positions (absolute indexes into `buf`) of every byte in [start, end) that is not part of a well-formed UTF-8
 * sequence (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). Replacing exactly these bytes with an
 * ASCII byte yields valid UTF-8 with the same length. A sequence cut by `end` counts as invalid.
 */
export function invalidUtf8Positions(buf: Uint8Array, start: number, end: number): number[] {
  const bad: number[] = [];
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let n = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    }
    let ok = n > 0 && i + n < end;
    if (ok) {
      const b1 = buf[i + 1];
      ok = b1 >= lo && b1 <= hi;
      for (let k = 2; ok && k <= n; k++) ok = (buf[i + k] & 0xc0) === 0x80;
    }
    if (ok) i += n + 1;
    else {
      bad.push(i);
      i++;
    }
  }
  return bad;
}

/** Number of UTF-8 bytes of s[from, to) (s comes from valid UTF-8, so surrogates come in pairs: 2 + 2 bytes). */
export function utf8Length(s: string, from: number, to: number): number {
  let n = to - from;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c < 0x800 || (c & 0xf800) === 0xd800 ? 1 : 2;
  }
  return n;
}

/** Length of a possibly incomplete UTF-8 sequence at the very end of bytes [start, end): 0..3 bytes to hold back. */
export function utf8IncompleteTail(buf: Uint8Array, start: number, end: number): number {
  for (let k = 1; k <= 3 && end - k >= start; k++) {
    const b = buf[end - k];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    if (b < 0xc0) return 0;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    return need > k ? k : 0;
  }
  return 0;
}

export function describeByte(b: number): string {
  return `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte queue: the bytes not yet consumed (one partial record plus the newest chunk). Memory stays flat: consumed
// bytes are dropped and the capacity only grows to the largest partial record + chunk seen.

export class ByteQueue {
  buf: Buffer = Buffer.allocUnsafe(0);
  len = 0;

  append(chunk: Uint8Array): void {
    const need = this.len + chunk.length;
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2, 4096));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.buf.set(chunk, this.len);
    this.len = need;
  }

  /** Drop the first n bytes. */
  consume(n: number): void {
    if (n <= 0) return;
    if (n >= this.len) this.len = 0;
    else {
      this.buf.copyWithin(0, n, this.len);
      this.len -= n;
    }
    // Give back a buffer that grew large for one huge record.
    if (this.buf.length > 1 << 22 && this.len < this.buf.length >>> 3) {
      const next = Buffer.allocUnsafe(Math.max(this.len * 2, 1 << 16));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
  }

  /** Index of the first byte `b` in [from, len), or -1. */
  indexOf(b: number, from = 0): number {
    if (from >= this.len) return -1;
    const i = this.buf.indexOf(b, from);
    return i >= this.len ? -1 : i;
  }

  /** Index of the last byte `b` in [0, len), or -1. */
  lastIndexOf(b: number): number {
    if (this.len === 0) return -1;
    return this.buf.lastIndexOf(b, this.len - 1);
  }

  copy(start: number, end: number): Buffer {
    return Buffer.from(this.buf.subarray(start, end));
  }
}

/** Message payloads: strings are encoded as UTF-8 (and then decoded as UTF-8 whatever the format's encoding). */
export function payloadBytes(payload: Uint8Array | string): Buffer {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** UTF-8 byte order mark handling at the start of a file: how many bytes to skip, or -1 = need more bytes. */
export function bomLength(buf: Uint8Array, len: number, final: boolean): number {
  const BOM = [0xef, 0xbb, 0xbf];
  for (let i = 0; i < 3; i++) {
    if (i >= len) return final ? 0 : -1;
    if (buf[i] !== BOM[i]) return 0;
  }
  return 3;
}

// ---------------------------------------------------------------------------------------------------------------
// Misc

export const LF = 0x0a;
export const CR = 0x0d;

export const MIB = 1024 * 1024;

/** Schema of a `maxRecordBytes` option. */
export function maxRecordBytesSchema(def: number, description?: string): JsonSchema {
  return {
    type: 'integer',
    minimum: 16,
    default: def,
    description:
      description ??
      'Largest record in bytes (including its line terminator). A longer record is rejected (its first ' +
        'maxRecordBytes bytes kept as raw) and decoding resumes on the next line; this bounds the memory a broken ' +
        'file (e.g. an unterminated quote) can take.',
  };
}

/** Render a byte count for messages. */
export function bytesText(n: number): string {
  if (n % MIB === 0) return `${n / MIB} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** Shorten a text for an error message. */
export function excerpt(s: string, max = 40): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}
