/**
 * Flat IDoc files: a 524-character EDI_DC40 control record, then its 1063-character EDI_DD40 data records, then
 * the next IDoc's control record, and so on. Records are contiguous, or each ends with LF or CRLF (the framing is
 * detected from the first record of the stream); with line ends, shorter lines are accepted as space-padded (many
 * tools trim the padding). One decoded record = one IDoc; its `end` is where the next control record starts.
 *
 * Positions count characters of the decoded text ("slice by characters, not bytes" for UTF-8 ports); byte offsets in
 * the results are exact. A broken data record rejects its whole IDoc, with the offset of that data record; decoding
 * continues with the next control record (in contiguous files a record that is not a data record realigns on the
 * next `EDI_DC`).
 */
import { isAscii } from 'node:buffer';
import type { DecodedRecord, RecordError, StreamDecoder, StreamStart } from '../../contracts/spi.ts';
import { ByteQueue, bomLength, bytesText, CR, decodeBytes, describeByte, type Encoding, invalidUtf8Positions, LF, validUtf8 } from './../common.ts';
import { CONTROL_LENGTH, DATA_LENGTH, type SegmentCatalog } from './layout.ts';
import { controlFromFlat, FlatTreeBuilder, type UnknownSegments } from './tree.ts';

export interface FlatOptions {
  catalog: SegmentCatalog;
  encoding: Encoding;
  unknownSegments: UnknownSegments;
  /** Largest IDoc kept whole (bytes); a larger one is rejected without holding it in memory. */
  maxIdocBytes: number;
}

export interface FlatResume {
  syntax: 'flat';
  framing: 'contiguous' | 'lines' | null;
}

const EDI_DC = Buffer.from('EDI_DC');
const SEGNAM_RE = /^[A-Za-z0-9_/]+ *$/;
/** Raw text kept for an IDoc that is too large to keep whole (dead-letter payload). */
const RAW_HEAD = 64 * 1024;

interface Current {
  /** Queue index where the IDoc starts, or -1 once its head was dropped (oversized). */
  start: number;
  offset: number;
  line: number | undefined;
  builder: FlatTreeBuilder;
  error: RecordError | undefined;
  rawHead: string | undefined;
}

export class FlatIdocDecoder implements StreamDecoder {
  readonly #o: FlatOptions;
  readonly #file: string;
  readonly #q = new ByteQueue();
  /** Absolute offset of q.buf[0]. */
  #base: number;
  /** Queue index of the next unread record. */
  #scan = 0;
  #line: number;
  #framing: 'contiguous' | 'lines' | null;
  #bomChecked: boolean;
  #cur: Current | undefined;
  /** Looking for the next `EDI_DC` after contiguous data went out of step. */
  #seeking = false;
  /** Data that belongs to no IDoc (before the first control record, or garbage): start index and first offset. */
  #orphan: { start: number; offset: number; line: number | undefined; reason: string; rawHead?: string } | undefined;
  #out: DecodedRecord[] = [];

  constructor(o: FlatOptions, start: StreamStart) {
    this.#o = o;
    this.#file = start.file;
    this.#base = start.offset;
    this.#line = start.line;
    const r = start.resume as FlatResume | undefined;
    this.#framing = r?.framing ?? null;
    this.#bomChecked = start.offset !== 0 || o.encoding !== 'utf-8';
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    this.#q.append(chunk);
    this.#run(false);
    return this.#take();
  }

  end(): DecodedRecord[] {
    this.#run(true);
    if (this.#orphan) this.#emitOrphan(this.#scan);
    if (this.#cur) this.#emitCurrent(this.#scan);
    this.#compact();
    return this.#take();
  }

  resumeState(): FlatResume {
    return { syntax: 'flat', framing: this.#framing };
  }

  #take(): DecodedRecord[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #run(final: boolean): void {
    const q = this.#q;
    if (!this.#bomChecked) {
      const n = bomLength(q.buf, q.len, final);
      if (n < 0) return;
      this.#bomChecked = true;
      this.#scan += n;
    }
    for (;;) {
      // Separators between records (a contiguous file with a final newline, blank lines).
      while (this.#scan < q.len && (q.buf[this.#scan] === LF || q.buf[this.#scan] === CR)) {
        if (q.buf[this.#scan] === LF) this.#line++;
        this.#scan++;
      }
      if (this.#seeking && !this.#seek(final)) break;
      if (this.#scan >= q.len) break;
      if (this.#framing === null && !this.#detect(final)) break;
      if (!(this.#framing === 'lines' ? this.#nextLine(final) : this.#nextFixed(final))) break;
    }
    this.#compact();
  }

  /** Decide the framing from the first record: an LF within the first 524 characters (+CR) means lines. */
  #detect(final: boolean): boolean {
    const q = this.#q;
    const s = this.#scan;
    const look = Math.min(q.len, s + CONTROL_LENGTH * 4 + 2);
    const lf = q.indexOf(LF, s);
    if (lf >= 0 && lf < look) {
      const text = decodeBytes(q.buf, s, lf, this.#o.encoding);
      this.#framing = text.replace(/\r$/, '').length <= DATA_LENGTH ? 'lines' : 'contiguous';
      return true;
    }
    if (look - s >= CONTROL_LENGTH * 4 + 2 || final) {
      this.#framing = 'contiguous';
      return true;
    }
    return false;
  }

  /** Line framing: one record per line, LF or CRLF. Returns false when more bytes are needed. */
  #nextLine(final: boolean): boolean {
    const q = this.#q;
    const s = this.#scan;
    let lf = q.indexOf(LF, s);
    const limit = DATA_LENGTH * 4 + 2;
    if (lf < 0) {
      if (!final && q.len - s <= limit) return false;
      lf = q.len; // last line without a terminator (or an overlong line: handled below)
    }
    let contentEnd = lf;
    if (contentEnd > s && q.buf[contentEnd - 1] === CR) contentEnd--;
    const next = lf < q.len ? lf + 1 : lf;
    const line = this.#line;
    if (lf - s > limit) {
      // Far longer than any record: not an IDoc line. Skip to its end without decoding all of it.
      const skipTo = q.indexOf(LF, s + limit);
      const end = skipTo < 0 ? (final ? q.len : -1) : skipTo + 1;
      if (end < 0) return false;
      this.#bad(s, `line is longer than an IDoc record (${bytesText(end - s)})`, line);
      this.#scan = end;
      if (skipTo >= 0) this.#line++;
      return true;
    }
    this.#scan = next;
    if (lf < q.len) this.#line++;
    this.#record(s, contentEnd, line, true);
    return true;
  }

  /** Contiguous framing: 524 characters for a record starting with EDI_DC, 1063 for any other. */
  #nextFixed(final: boolean): boolean {
    const q = this.#q;
    const s = this.#scan;
    if (q.len - s < EDI_DC.length && !final) return false;
    const control = this.#startsControl(s);
    const chars = control ? CONTROL_LENGTH : DATA_LENGTH;
    const bytes = this.#bytesFor(s, chars);
    if (bytes < 0) {
      if (!final) return false;
      const have = decodeBytes(q.buf, s, q.len, this.#o.encoding).length;
      this.#bad(s, `truncated ${control ? 'control' : 'data'} record: ${have} of ${chars} characters at the end of the input`, undefined);
      this.#scan = q.len;
      return true;
    }
    this.#scan = s + bytes;
    this.#record(s, s + bytes, undefined, false);
    return true;
  }

  #startsControl(i: number): boolean {
    const q = this.#q;
    if (q.len - i < EDI_DC.length) return false;
    for (let k = 0; k < EDI_DC.length; k++) if (q.buf[i + k] !== EDI_DC[k]) return false;
    return true;
  }

  /** Bytes taken by `chars` characters from queue index s, or -1 when the queue does not hold them yet. */
  #bytesFor(s: number, chars: number): number {
    const q = this.#q;
    if (this.#o.encoding !== 'utf-8') return q.len - s >= chars ? chars : -1;
    if (q.len - s >= chars && isAscii(q.buf.subarray(s, s + chars))) return chars;
    let n = 0;
    let i = s;
    while (i < q.len) {
      if ((q.buf[i] & 0xc0) !== 0x80) {
        if (n === chars) return i - s;
        n++;
      }
      i++;
    }
    // The last character may still need continuation bytes: only complete when it does not.
    if (n === chars && i === q.len) {
      let k = i - 1;
      while (k > s && (q.buf[k] & 0xc0) === 0x80) k--;
      const lead = q.buf[k];
      const need = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (i - k >= need) return i - s;
    }
    return -1;
  }

  /** One record's bytes [s, e) (without its line end). */
  #record(s: number, e: number, line: number | undefined, lines: boolean): void {
    const q = this.#q;
    const enc = this.#o.encoding;
    // Fast path — a data record whose characters are bytes (ASCII, or a single-byte encoding): decode only the
    // administrative part and the part of SDATA the segment's layout reaches, not all 1063 characters.
    if (!this.#startsControl(s) && (enc !== 'utf-8' || isAscii(q.buf.subarray(s, e)))) {
      const head = decodeBytes(q.buf, s, Math.min(e, s + 63), enc);
      const layout = this.#o.catalog.get(head.slice(0, 30).trimEnd());
      const reach = layout && layout.fields.length > 0 ? layout.span : DATA_LENGTH - 63;
      const sdata = e - s > 63 ? decodeBytes(q.buf, s + 63, Math.min(e, s + 63 + reach), enc) : '';
      this.#data(head, sdata, e - s, s, line, lines);
      return;
    }
    let text: string;
    if (enc === 'utf-8') {
      if (isAscii(q.buf.subarray(s, e))) text = q.buf.toString('latin1', s, e);
      else if (!validUtf8(q.buf, s, e)) {
        const bad = invalidUtf8Positions(q.buf, s, e)[0] ?? s;
        this.#bad(s, `invalid UTF-8 byte ${describeByte(q.buf[bad])}`, line, this.#base + bad);
        return;
      } else text = q.buf.toString('utf8', s, e);
    } else text = decodeBytes(q.buf, s, e, enc);
    if (text.startsWith('EDI_DC')) {
      this.#finishAt(s, line);
      this.#cur = {
        start: s,
        offset: this.#base + s,
        line,
        builder: new FlatTreeBuilder(controlFromFlat(text), this.#o.catalog, this.#o.unknownSegments),
        error: undefined,
        rawHead: undefined,
      };
      if (lines && text.length > CONTROL_LENGTH)
        this.#fail(`control record is ${text.length} characters, expected ${CONTROL_LENGTH}`, this.#base + s, line, 'EDI_DC40');
      return;
    }
    this.#data(text.slice(0, 63), text.slice(63, DATA_LENGTH), text.length, s, line, lines);
  }

  /** A data record: its first 63 characters, its SDATA (possibly cut where the layout ends) and its full length. */
  #data(head: string, sdata: string, length: number, s: number, line: number | undefined, lines: boolean): void {
    const cur = this.#cur;
    const segnam = head.slice(0, 30);
    if (!SEGNAM_RE.test(segnam)) {
      this.#bad(s, `not an IDoc data record: SEGNAM ${JSON.stringify(segnam.trimEnd().slice(0, 30))}`, line);
      if (!lines) this.#realign(s + 1);
      return;
    }
    if (!cur || cur.error) {
      if (!cur) this.#bad(s, 'data record before any control record (EDI_DC40)', line);
      this.#checkSize();
      return;
    }
    const offset = this.#base + s;
    if (length > DATA_LENGTH) {
      this.#fail(`data record is ${length} characters, expected ${DATA_LENGTH}`, offset, line, 'SDATA');
      return;
    }
    const docnum = head.slice(33, 49).trim();
    const own = cur.builder.tree.EDI_DC40.DOCNUM;
    if (docnum !== '' && own !== undefined && docnum !== own) {
      this.#fail(`data record of IDoc ${docnum} inside IDoc ${own} (DOCNUM differs from the control record)`, offset, line, 'DOCNUM');
      return;
    }
    const problem = cur.builder.add(segnam.trimEnd(), head.slice(49, 55), head.slice(55, 61), head.slice(61, 63), sdata, 0);
    if (problem) this.#fail(problem.reason, offset, line, problem.field);
    else this.#checkSize();
  }

  /** Contiguous data out of step: everything up to the next `EDI_DC` belongs to the broken IDoc (or the orphan). */
  #realign(from: number): void {
    this.#scan = from;
    this.#seeking = true;
  }

  /** Skip to the next `EDI_DC`; false when the queue does not hold one yet. */
  #seek(final: boolean): boolean {
    const q = this.#q;
    const i = q.buf.subarray(0, q.len).indexOf(EDI_DC, this.#scan);
    if (i >= 0) {
      this.#scan = i;
      this.#seeking = false;
      return true;
    }
    // Keep a possible partial `EDI_DC` at the end of the queue for the next chunk.
    this.#scan = final ? q.len : Math.max(this.#scan, q.len - (EDI_DC.length - 1));
    this.#checkSize();
    if (final) this.#seeking = false;
    return false;
  }

  #fail(reason: string, offset: number, line: number | undefined, field?: string): void {
    const cur = this.#cur!;
    if (cur.error) return;
    cur.error = { stage: 'decode', reason, file: this.#file, offset };
    if (line !== undefined) cur.error.line = line;
    if (field) cur.error.field = field;
  }

  /** A record that belongs to no IDoc (or breaks the current one). */
  #bad(s: number, reason: string, line: number | undefined, offset = this.#base + s): void {
    if (this.#cur) {
      this.#fail(reason, offset, line);
      this.#checkSize();
      return;
    }
    if (!this.#orphan) this.#orphan = { start: s, offset, line, reason };
  }

  /** The current IDoc grew past maxIdocBytes: reject it, keep only its head. */
  #checkSize(): void {
    const o = this.#orphan;
    if (o && o.start >= 0 && this.#scan - o.start > this.#o.maxIdocBytes) {
      o.rawHead = `${decodeBytes(this.#q.buf, o.start, o.start + RAW_HEAD, this.#o.encoding)}…`;
      o.start = -1;
    }
    const cur = this.#cur;
    if (!cur || cur.start < 0) return;
    if (this.#scan - cur.start <= this.#o.maxIdocBytes) return;
    this.#fail(`IDoc is larger than maxIdocBytes (${bytesText(this.#o.maxIdocBytes)})`, cur.offset, cur.line);
    cur.rawHead = `${decodeBytes(this.#q.buf, cur.start, Math.min(this.#scan, cur.start + RAW_HEAD), this.#o.encoding)}…`;
    cur.start = -1;
  }

  /** A control record at queue index s ends whatever is open. */
  #finishAt(s: number, line: number | undefined): void {
    if (this.#orphan) this.#emitOrphan(s, line);
    if (this.#cur) this.#emitCurrent(s, line);
  }

  #emitOrphan(e: number, endLine = this.#line): void {
    const o = this.#orphan!;
    this.#orphan = undefined;
    const raw = o.start >= 0 ? decodeBytes(this.#q.buf, o.start, e, this.#o.encoding) : (o.rawHead ?? '');
    const error: RecordError = { stage: 'decode', reason: o.reason, file: this.#file, offset: o.offset };
    if (o.line !== undefined) error.line = o.line;
    const rec: DecodedRecord = { error, raw, offset: o.offset, end: this.#base + e };
    if (this.#framing === 'lines') {
      rec.line = o.line;
      rec.endLine = endLine;
    }
    this.#out.push(rec);
  }

  #emitCurrent(e: number, endLine = this.#line): void {
    const cur = this.#cur!;
    this.#cur = undefined;
    const raw = cur.start >= 0 ? this.#text(cur.start, e) : (cur.rawHead ?? '');
    const rec: DecodedRecord = { raw, offset: cur.offset, end: this.#base + e };
    if (this.#framing === 'lines') {
      rec.line = cur.line;
      rec.endLine = endLine;
    }
    if (cur.error) rec.error = cur.error;
    else rec.value = cur.builder.tree;
    this.#out.push(rec);
  }

  /** Text of bytes [s, e) (valid: every record in it was checked). */
  #text(s: number, e: number): string {
    const b = this.#q.buf;
    if (this.#o.encoding !== 'utf-8') return decodeBytes(b, s, e, this.#o.encoding);
    return isAscii(b.subarray(s, e)) ? b.toString('latin1', s, e) : b.toString('utf8', s, e);
  }

  /** Drop bytes no open IDoc needs any more. */
  #compact(): void {
    let keep = this.#scan;
    if (this.#cur && this.#cur.start >= 0) keep = Math.min(keep, this.#cur.start);
    if (this.#orphan && this.#orphan.start >= 0) keep = Math.min(keep, this.#orphan.start);
    if (keep <= 0) return;
    this.#q.consume(keep);
    this.#base += keep;
    this.#scan -= keep;
    if (this.#cur && this.#cur.start >= 0) this.#cur.start -= keep;
    if (this.#orphan && this.#orphan.start >= 0) this.#orphan.start -= keep;
  }
}
