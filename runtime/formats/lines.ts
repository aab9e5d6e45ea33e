/**
 * Line splitting for line-oriented formats (jsonl, fixed-width): LF or CRLF terminated lines with exact byte offsets
 * and line numbers across chunk boundaries, a UTF-8 BOM skipped at the start of a file, optional UTF-8 validation,
 * and a length limit: a line longer than `max` bytes is reported as oversized and skipped up to its LF without
 * being buffered, so memory stays flat whatever the input.
 */
import type { StreamStart } from '../contracts/spi.ts';
import { ByteQueue, bomLength, CR, invalidUtf8Positions, LF, validUtf8 } from './common.ts';

/** One line, valid only during the callback (buf is the reader's buffer). */
export interface Line {
  buf: Buffer;
  /** Index in buf of the first byte of the line. */
  start: number;
  /** Index just past the content (before CR LF / LF). */
  contentEnd: number;
  /** Absolute byte offset of `start`. */
  offset: number;
  /** Absolute byte offset just past the line terminator. */
  end: number;
  line: number;
  /** Line number at `end`. */
  endLine: number;
  /** Index in buf of the first invalid UTF-8 byte of the line, or -1 (always -1 without validation). */
  badUtf8: number;
}

/** A line longer than the limit: its first `max` bytes, and where it was. */
export interface OversizedLine {
  head: Buffer;
  offset: number;
  end: number;
  line: number;
  endLine: number;
}

export interface LineReaderOptions {
  /** Skip a UTF-8 BOM at offset 0. */
  bom: boolean;
  /** Largest line in bytes, terminator included. */
  max: number;
  validateUtf8: boolean;
}

export class LineReader {
  readonly #q = new ByteQueue();
  readonly #o: LineReaderOptions;
  #base: number;
  #line: number;
  #bom: boolean;
  /** The oversized line being skipped: waiting for its LF. */
  #skip: OversizedLine | null = null;
  /** The pending bytes [0, #lfFrom) are known to hold no LF (a line spread over many chunks is searched once). */
  #lfFrom = 0;
  readonly #cur: Line;

  constructor(start: StreamStart, o: LineReaderOptions) {
    this.#o = o;
    this.#base = start.offset;
    this.#line = start.line;
    this.#bom = o.bom && start.offset === 0;
    this.#cur = {
      buf: this.#q.buf,
      start: 0,
      contentEnd: 0,
      offset: 0,
      end: 0,
      line: 0,
      endLine: 0,
      badUtf8: -1,
    };
  }

  /** Capacity of the internal buffer (for memory checks). */
  get bufferedBytes(): number {
    return this.#q.buf.length;
  }

  push(chunk: Uint8Array, onLine: (l: Line) => void, onOversized: (o: OversizedLine) => void): void {
    if (chunk.length === 0) return;
    this.#q.append(chunk);
    this.#run(false, onLine, onOversized);
  }

  end(onLine: (l: Line) => void, onOversized: (o: OversizedLine) => void): void {
    this.#run(true, onLine, onOversized);
    if (this.#skip) {
      const s = this.#skip;
      s.end = this.#base;
      s.endLine = this.#line;
      this.#skip = null;
      onOversized(s);
    }
  }

  #run(final: boolean, onLine: (l: Line) => void, onOversized: (o: OversizedLine) => void): void {
    const q = this.#q;
    const { max } = this.#o;
    if (this.#bom) {
      const n = bomLength(q.buf, q.len, final);
      if (n < 0) return;
      this.#bom = false;
      q.consume(n);
      this.#base += n;
    }
    if (this.#skip) {
      const nl = q.indexOf(LF, this.#lfFrom);
      this.#lfFrom = 0;
      if (nl < 0) {
        this.#base += q.len;
        q.consume(q.len);
        return;
      }
      const s = this.#skip;
      this.#skip = null;
      this.#base += nl + 1;
      q.consume(nl + 1);
      s.end = this.#base;
      s.endLine = ++this.#line;
      onOversized(s);
    }

    const buf = q.buf;
    const len = q.len;
    // Only the bytes after #lfFrom can hold an LF (the pending partial line has none).
    const cut = final ? len : q.indexOf(LF, this.#lfFrom) < 0 ? 0 : q.lastIndexOf(LF) + 1;
    let bad: number[] | null = null;
    if (this.#o.validateUtf8 && cut > 0 && !validUtf8(buf, 0, cut)) bad = invalidUtf8Positions(buf, 0, cut);
    let bi = 0;
    const cur = this.#cur;
    cur.buf = buf;
    let pos = 0;
    let line = this.#line;
    let from = this.#lfFrom;
    this.#lfFrom = 0;
    while (pos < len) {
      const nl = q.indexOf(LF, Math.max(pos, from));
      from = 0;
      if (nl < 0 && !final) {
        if (len - pos > max) {
          // A line longer than the limit whose end has not arrived: remember its head, drop the rest as it comes.
          this.#skip = { head: q.copy(pos, pos + max), offset: this.#base + pos, end: -1, line, endLine: -1 };
          pos = len;
        }
        break;
      }
      const end = nl < 0 ? len : nl + 1;
      const endLine = nl < 0 ? line : line + 1;
      if (end - pos > max) {
        onOversized({ head: q.copy(pos, pos + max), offset: this.#base + pos, end: this.#base + end, line, endLine });
      } else {
        let ce = nl < 0 ? len : nl;
        if (ce > pos && buf[ce - 1] === CR) ce--;
        let b = -1;
        if (bad) {
          while (bi < bad.length && bad[bi] < pos) bi++;
          if (bi < bad.length && bad[bi] < end) b = bad[bi];
        }
        cur.start = pos;
        cur.contentEnd = ce;
        cur.offset = this.#base + pos;
        cur.end = this.#base + end;
        cur.line = line;
        cur.endLine = endLine;
        cur.badUtf8 = b;
        onLine(cur);
      }
      pos = end;
      line = endLine;
    }
    this.#base += pos;
    this.#line = line;
    q.consume(pos);
    this.#lfFrom = this.#skip ? 0 : q.len;
  }
}
