/**
 * `csv`: delimited text (RFC 4180 plus the usual variants) decoded by a scanner over whole chunks.
 *
 * How it works: the bytes not yet consumed sit in a ByteQueue. On each chunk the decoder decodes the bytes up to the
 * last LF in one go (one native call), then walks the string with indexOf: a line without a quote character is
 * split on the delimiter directly (the fast path); a line with quotes goes through a small state machine that may
 * run over line ends inside quoted fields. Byte offsets are exact: for single-byte encodings and pure-ASCII UTF-8
 * chunks a char index is a byte index; otherwise the UTF-8 length of the text in between is counted.
 *
 * Errors never stop the stream. Resynchronisation rules (see docs/formats.md):
 *  - ragged row, invalid UTF-8: that record is rejected, decoding continues with the next record;
 *  - a quote that is never closed (end of input, or the record passes maxRecordBytes inside the quoted field): the
 *    reject runs from the record start through the end of the line on which that quote opened; decoding restarts
 *    on the next line;
 *  - a character other than delimiter / line end after a closing quote: the reject runs through the end of the line
 *    holding that character; decoding restarts on the next line;
 *  - a record longer than maxRecordBytes outside quotes: rejected through the end of its line (skipped without
 *    buffering when the line itself is longer than the limit).
 */
import type {
  BoundFormat,
  DecodedRecord,
  FormatSpec,
  JsonSchema,
  RecordError,
  StreamDecoder,
  StreamStart,
} from '../contracts/spi.ts';
import {
  ByteQueue,
  bomLength,
  bytesText,
  CR,
  decodeBytes,
  describeByte,
  type Encoding,
  encodingSchema,
  invalidUtf8Positions,
  LF,
  MIB,
  maxRecordBytesSchema,
  normalizeEncoding,
  payloadBytes,
  utf8Length,
  validUtf8,
} from './common.ts';

export interface CsvOptions {
  delimiter?: string;
  quote?: string;
  escape?: string;
  header?: boolean;
  columns?: string[];
  headerAliases?: Record<string, string[]>;
  encoding?: string;
  skipEmptyLines?: boolean;
  trim?: boolean;
  comment?: string;
  maxRecordBytes?: number;
}

/** What a CSV stream decoder needs to resume: the header row as read from the file (null when not read). */
export interface CsvResumeState {
  header: string[] | null;
  /** Set when the header row itself was rejected: every following record is rejected too. */
  headerError?: string;
}

const oneChar = (what: string, def: string): JsonSchema => ({
  type: 'string',
  minLength: 1,
  maxLength: 1,
  default: def,
  description: what,
});

export const csvOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    delimiter: oneChar('Field delimiter (one character, e.g. `;` or a tab `"\\t"`).', ','),
    quote: oneChar('Quote character around fields that contain delimiters, quotes or line breaks.', '"'),
    escape: {
      type: 'string',
      minLength: 1,
      maxLength: 1,
      description:
        'Escape character inside quoted fields. Default: the quote itself (`""` is one quote, RFC 4180). With `\\\\`, ' +
        '`\\"` is a quote and `\\\\` a backslash; a backslash before any other character is kept as is.',
    },
    header: {
      type: 'boolean',
      description:
        'Whether the first non-empty, non-comment row is a header naming the fields. Default: true, or false when ' +
        '`columns` is given. With both `header: true` and `columns`, the header row is skipped and `columns` name ' +
        'the fields.',
    },
    columns: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      minItems: 1,
      description: 'Field names, in order. Required when `header` is false; overrides the header row otherwise.',
    },
    headerAliases: {
      type: 'object',
      additionalProperties: { type: 'array', items: { type: 'string' } },
      default: {},
      description:
        'Canonical field name → alternative header spellings. Header cells are compared trimmed and case-' +
        'insensitively with the canonical name and its aliases: `{store: [Store No, store_no]}` turns `Store No`, ' +
        '`store_no` and `STORE` into `store`.',
    },
    encoding: encodingSchema(),
    skipEmptyLines: {
      type: 'boolean',
      default: true,
      description: 'Skip lines with no characters at all. When false, an empty line is a record with one empty field.',
    },
    trim: {
      type: 'boolean',
      default: false,
      description:
        'Trim whitespace around each value; also allows spaces between a delimiter and a quote. Quoted content is kept.',
    },
    comment: {
      type: 'string',
      minLength: 1,
      description: 'Lines starting with this prefix (e.g. `#`) are skipped. Only checked at the start of a record.',
    },
    maxRecordBytes: maxRecordBytesSchema(MIB),
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Bound configuration

type RowBuilder = (f: string[]) => Record<string, string>;

/** An object literal with a fixed shape per header: V8 gives every row the same hidden class. */
function rowBuilder(names: readonly string[]): RowBuilder {
  const props = names.map((n, i) => `${n === '__proto__' ? '["__proto__"]' : JSON.stringify(n)}: f[${i}]`);
  return new Function('f', `return { ${props.join(', ')} };`) as RowBuilder;
}

interface CsvConfig {
  delim: number;
  delimChar: string;
  quote: number;
  quoteChar: string;
  /** Escape char code; equals `quote` for RFC 4180 doubling. */
  esc: number;
  header: boolean;
  columns: string[] | null;
  columnsBuilder: RowBuilder | null;
  aliases: Map<string, string>;
  encoding: Encoding;
  skipEmpty: boolean;
  trim: boolean;
  comment: string | null;
  max: number;
  /** ASCII byte substituted for invalid UTF-8 bytes so the scanner keeps its footing (the record is rejected). */
  sub: number;
}

function configure(o: CsvOptions): CsvConfig {
  const delimChar = o.delimiter ?? ',';
  const quoteChar = o.quote ?? '"';
  const escChar = o.escape ?? quoteChar;
  for (const [k, v] of [
    ['delimiter', delimChar],
    ['quote', quoteChar],
    ['escape', escChar],
  ] as const) {
    if (v.length !== 1) throw new Error(`option ${k} must be exactly one character`);
    if (v === '\n' || v === '\r') throw new Error(`option ${k} cannot be a line break`);
  }
  if (delimChar === quoteChar) throw new Error('options delimiter and quote must differ');
  if (escChar === delimChar) throw new Error('options escape and delimiter must differ');
  const columns = o.columns ? [...o.columns] : null;
  if (columns) {
    const seen = new Set<string>();
    for (const c of columns) {
      if (seen.has(c)) throw new Error(`column '${c}' is declared twice in columns`);
      seen.add(c);
    }
  }
  const header = o.header ?? columns === null;
  if (!header && !columns) throw new Error('header is false, so columns must name the fields');
  const aliases = new Map<string, string>();
  for (const [canonical, list] of Object.entries(o.headerAliases ?? {})) {
    for (const spelling of [canonical, ...list]) {
      const key = spelling.trim().toLowerCase();
      const prev = aliases.get(key);
      if (prev !== undefined && prev !== canonical)
        throw new Error(`headerAliases: '${spelling}' is an alias of both '${prev}' and '${canonical}'`);
      aliases.set(key, canonical);
    }
  }
  const comment = o.comment ?? null;
  const special = new Set([delimChar, quoteChar, escChar, comment?.[0]].filter(Boolean).map((c) => c!.charCodeAt(0)));
  return {
    delim: delimChar.charCodeAt(0),
    delimChar,
    quote: quoteChar.charCodeAt(0),
    quoteChar,
    esc: escChar.charCodeAt(0),
    header,
    columns,
    columnsBuilder: columns ? rowBuilder(columns) : null,
    aliases,
    encoding: normalizeEncoding(o.encoding),
    skipEmpty: o.skipEmptyLines ?? true,
    trim: o.trim ?? false,
    comment,
    max: o.maxRecordBytes ?? MIB,
    sub: special.has(0x1a) ? 0x3f : 0x1a,
  };
}

/** Header cells → field names: trimmed, aliases applied, blanks named `column<N>`, duplicates suffixed `_2`, `_3`. */
export function resolveHeader(cells: readonly string[], aliases: ReadonlyMap<string, string>): string[] {
  const base = cells.map((cell, i) => {
    const t = cell.trim();
    const name = aliases.get(t.toLowerCase()) ?? t;
    return name === '' ? `column${i + 1}` : name;
  });
  const taken = new Set(base);
  const seen = new Set<string>();
  return base.map((name) => {
    if (seen.has(name)) {
      let k = 2;
      while (taken.has(`${name}_${k}`)) k++;
      name = `${name}_${k}`;
      taken.add(name);
    }
    seen.add(name);
    return name;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Decoder

const NORMAL = 0; // region ends just after an LF: a record cut by the region end is incomplete
const FINAL = 1; // end of input: the region end terminates the last record
const OVERFLOW = 2; // the pending bytes exceed maxRecordBytes: decide the first record (it is oversized), then stop

/** A reject whose end is not known yet: its line is longer than maxRecordBytes and is skipped up to the next LF. */
interface Skip {
  record: DecodedRecord | null;
  /** Line number of the line being skipped. */
  line: number;
}

const BIG = Number.MAX_SAFE_INTEGER;
const INCOMPLETE = -1;

export class CsvDecoder implements StreamDecoder {
  readonly #c: CsvConfig;
  readonly #file: string;
  readonly #enc: Encoding;
  readonly #q = new ByteQueue();
  /** Absolute byte offset of the first pending byte. */
  #base: number;
  /** Line number of the first pending byte (always the start of a line). */
  #line: number;
  #bom: boolean;
  #skip: Skip | null = null;
  #out: DecodedRecord[] = [];
  /** See #drain: bytes already examined, and whether the last parse stopped inside a quoted field. */
  #seen = 0;
  #waitQuote = false;
  #incomplete = false;

  #needHeader: boolean;
  #rawHeader: string[] | null = null;
  #names: string[] | null;
  #build: RowBuilder | null;
  #headerError: string | null = null;

  readonly #fields: string[] = [];
  #nf = 0;

  // Region being parsed (valid during #parse).
  #s = '';
  #len = 0;
  #ascii = true;
  #src: Buffer = this.#q.buf;
  #bad: number[] | null = null;
  #mc = 0; // char/byte mapping cursor
  #mb = 0;
  #nd = -1; // next delimiter / quote at or after the scan position (BIG: none)
  #nq = -1;

  constructor(c: CsvConfig, start: StreamStart, encoding?: Encoding) {
    this.#c = c;
    this.#file = start.file;
    this.#enc = encoding ?? c.encoding;
    this.#base = start.offset;
    this.#line = start.line;
    this.#bom = start.offset === 0 && this.#enc === 'utf-8';
    this.#names = c.columns;
    this.#build = c.columnsBuilder;
    const resume = start.resume as CsvResumeState | null | undefined;
    if (resume?.headerError) this.#headerError = resume.headerError;
    if (resume?.header) {
      this.#rawHeader = resume.header;
      if (!c.columns) this.#setNames(resolveHeader(resume.header, c.aliases));
    }
    this.#needHeader = c.header && start.offset === 0 && !resume;
    if (c.header && start.offset > 0 && !c.columns && !resume?.header && !resume?.headerError)
      throw new Error(
        `csv: cannot resume ${start.file} at byte ${start.offset} without the header row (pass the resumeState() ` +
          'saved with the checkpoint, or declare columns)',
      );
  }

  #setNames(names: string[]): void {
    this.#names = names;
    this.#build = rowBuilder(names);
  }

  /** Bytes of buffer currently held between chunks (capacity, not content): stays near one chunk + one record. */
  get bufferedBytes(): number {
    return this.#q.buf.length;
  }

  resumeState(): CsvResumeState | null {
    if (this.#headerError) return { header: null, headerError: this.#headerError };
    return this.#rawHeader ? { header: this.#rawHeader } : null;
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    if (chunk.length === 0) return [];
    this.#q.append(chunk);
    this.#drain(false);
    return this.#take();
  }

  end(): DecodedRecord[] {
    this.#drain(true);
    const q = this.#q;
    if (this.#skip) {
      // The over-long line ran to the end of the input.
      this.#finishSkip(q.len, false);
    }
    return this.#take();
  }

  #take(): DecodedRecord[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #drain(final: boolean): void {
    const q = this.#q;
    // Bytes [0, seen) were already looked at by the previous call: they hold no complete line beyond what was parsed,
    // and, while a quoted field is open (#waitQuote), no quote byte.
    let seen = this.#seen;
    this.#seen = 0;
    if (this.#bom) {
      const n = bomLength(q.buf, q.len, final);
      if (n < 0) return;
      this.#bom = false;
      if (n > 0) {
        q.consume(n);
        this.#base += n;
      }
      seen = 0;
    }
    for (;;) {
      if (this.#skip) {
        const nl = q.indexOf(LF, seen);
        if (nl < 0) {
          // Still inside the over-long line: drop what we have (memory stays flat).
          this.#base += q.len;
          q.consume(q.len);
          return;
        }
        this.#finishSkip(nl, true);
        seen = 0;
      }
      let cut = 0;
      if (final) cut = q.len;
      else if (q.indexOf(LF, seen) >= 0 && !(this.#waitQuote && q.indexOf(this.#c.quote, seen) < 0))
        cut = q.lastIndexOf(LF) + 1;
      this.#waitQuote = false;
      if (cut > 0) this.#parse(cut, final ? FINAL : NORMAL);
      if (final || this.#skip) return;
      if (q.len <= this.#c.max) {
        this.#seen = q.len;
        // Still waiting for a quote only if no parse ran or it stopped inside a quoted field.
        this.#waitQuote = cut === 0 ? this.#wasWaiting(seen) : this.#incomplete;
        return;
      }
      this.#parse(q.len, OVERFLOW);
      if (this.#skip) return;
      seen = 0;
    }
  }

  /** No parse ran on the new bytes: the open quoted field (if any) is still open. */
  #wasWaiting(seen: number): boolean {
    return seen > 0 && this.#incomplete;
  }

  /** End the pending skip: the rejected line ends at pending byte `nl` (its LF, when `lf`) or at end of input. */
  #finishSkip(nl: number, lf: boolean): void {
    const q = this.#q;
    const rec = this.#skip!.record;
    const n = lf ? nl + 1 : nl;
    this.#base += n;
    q.consume(n);
    if (lf) this.#line++;
    if (rec) {
      rec.end = this.#base;
      rec.endLine = this.#line;
      this.#out.push(rec);
    }
    this.#skip = null;
  }

  // -------------------------------------------------------------------------------------------------------------

  /**
   * Byte index (relative to the pending bytes) of char index `ci` of the region string. For UTF-8 text that is not
   * all ASCII, the UTF-8 length of the text since the previous call is added: natively (Buffer.byteLength on a
   * slice, ~45 ns per record) or, for a few chars, by a loop. Calls are almost always in increasing order.
   */
  #byteAt(ci: number): number {
    if (this.#ascii) return ci;
    const mc = this.#mc;
    if (ci > mc) this.#mb += ci - mc < 24 ? utf8Length(this.#s, mc, ci) : Buffer.byteLength(this.#s.slice(mc, ci));
    else if (ci < mc) this.#mb -= mc - ci < 24 ? utf8Length(this.#s, ci, mc) : Buffer.byteLength(this.#s.slice(ci, mc));
    this.#mc = ci;
    return this.#mb;
  }

  /** UTF-8 (or single-byte) length of region chars [a, b), exact only when it matters against the limit. */
  #bytesBetween(a: number, b: number): number {
    if (this.#ascii || (b - a) * 3 <= this.#c.max) return b - a;
    return utf8Length(this.#s, a, b);
  }

  #error(reason: string, line: number, column: number | undefined, offset: number, field?: string): RecordError {
    const e: RecordError = { stage: 'decode', reason, file: this.#file, line, column, offset };
    if (field !== undefined) e.field = field;
    return e;
  }

  /** Line and 1-based column of region char `ci`, given that region char `from` starts line `line`. */
  #where(from: number, line: number, ci: number): { line: number; column: number } {
    const s = this.#s;
    let l = line;
    let ls = from;
    for (let i = s.indexOf('\n', from); i >= 0 && i < ci; i = s.indexOf('\n', i + 1)) {
      l++;
      ls = i + 1;
    }
    return { line: l, column: ci - ls + 1 };
  }

  #countLines(from: number, to: number): number {
    const s = this.#s;
    let n = 0;
    for (let i = s.indexOf('\n', from); i >= 0 && i < to; i = s.indexOf('\n', i + 1)) n++;
    return n;
  }

  /**
   * Parse region bytes [0, cut) of the queue. Emits the records it completes, consumes their bytes, and leaves an
   * incomplete record (NORMAL mode) at the front of the queue.
   */
  #parse(cut: number, mode: number): void {
    const c = this.#c;
    const q = this.#q;
    let src = q.buf;
    let bad: number[] | null = null;
    if (this.#enc === 'utf-8' && !validUtf8(src, 0, cut)) {
      bad = invalidUtf8Positions(src, 0, cut);
      src = Buffer.from(src.subarray(0, cut));
      for (const b of bad) src[b] = c.sub;
    }
    const s = decodeBytes(src, 0, cut, this.#enc);
    const len = s.length;
    this.#s = s;
    this.#len = len;
    this.#src = src;
    this.#bad = bad;
    this.#ascii = len === cut;
    this.#mc = 0;
    this.#mb = 0;
    this.#nd = -1;
    this.#nq = -1;

    const fields = this.#fields;
    const { delim, delimChar, quoteChar, skipEmpty, comment, trim } = c;
    this.#incomplete = false;
    let pos = 0;
    let line = this.#line;

    while (pos < len) {
      const ch = s.charCodeAt(pos);
      // Empty line.
      if (ch === LF || (ch === CR && (s.charCodeAt(pos + 1) === LF || (pos + 1 === len && mode === FINAL)))) {
        const endc = ch === LF || pos + 1 === len ? pos + 1 : pos + 2;
        // Empty lines before the header are never records.
        if (!skipEmpty && !this.#needHeader) {
          fields[0] = '';
          this.#nf = 1;
          this.#record(pos, pos, endc, line, line + (ch === LF || s.charCodeAt(pos + 1) === LF ? 1 : 0));
        }
        if (s.charCodeAt(endc - 1) === LF) line++;
        pos = endc;
        if (mode === OVERFLOW) break;
        continue;
      }
      // Comment line.
      if (comment !== null && s.startsWith(comment, pos)) {
        const nl = s.indexOf('\n', pos);
        if (nl < 0) {
          if (mode === OVERFLOW) this.#skip = { record: null, line };
          pos = len;
          break;
        }
        pos = nl + 1;
        line++;
        if (mode === OVERFLOW) break;
        continue;
      }
      const nl = s.indexOf('\n', pos);
      const lineEnd = nl < 0 ? len : nl;
      let nq = this.#nq;
      if (nq < pos) {
        nq = s.indexOf(quoteChar, pos);
        if (nq < 0) nq = BIG;
        this.#nq = nq;
      }

      if (nq >= lineEnd) {
        // Fast path: no quote on this line.
        if (nl < 0 && mode !== FINAL) {
          // OVERFLOW: a line longer than maxRecordBytes whose end has not arrived yet.
          this.#startSkip(pos, line, `record is longer than maxRecordBytes (${bytesText(c.max)})`, line);
          pos = len;
          break;
        }
        const contentEnd = lineEnd > pos && s.charCodeAt(lineEnd - 1) === CR ? lineEnd - 1 : lineEnd;
        let nf = 0;
        let fs = pos;
        let nd = this.#nd;
        for (;;) {
          if (nd < fs) {
            nd = s.indexOf(delimChar, fs);
            if (nd < 0) nd = BIG;
          }
          if (nd >= contentEnd) {
            fields[nf++] = trim ? s.slice(fs, contentEnd).trim() : s.slice(fs, contentEnd);
            break;
          }
          fields[nf++] = trim ? s.slice(fs, nd).trim() : s.slice(fs, nd);
          fs = nd + 1;
        }
        this.#nd = nd;
        this.#nf = nf;
        const endc = nl < 0 ? len : nl + 1;
        this.#record(pos, contentEnd, endc, line, nl < 0 ? line : line + 1);
        pos = endc;
        if (nl >= 0) line++;
        if (mode === OVERFLOW) break;
        continue;
      }

      // Slow path: quotes on this line; the record may span lines.
      const r = this.#quoted(pos, line, mode, delim);
      if (r === INCOMPLETE) break;
      line += this.#countLines(pos, r);
      pos = r;
      if (mode === OVERFLOW || this.#skip) break;
    }

    if (this.#skip) pos = len;
    const consumed = this.#byteAt(pos);
    this.#base += consumed;
    this.#line = this.#skip ? this.#skip.line : line;
    q.consume(consumed);
    this.#s = '';
    this.#src = q.buf;
    this.#bad = null;
  }

  /**
   * Parse one record that contains a quote character, starting at region char `start` (line `line`). Returns the
   * char index just past the record (or past the rejected span), or INCOMPLETE when more input is needed.
   */
  #quoted(start: number, line: number, mode: number, delim: number): number {
    const c = this.#c;
    const s = this.#s;
    const len = this.#len;
    const fields = this.#fields;
    const { quote, esc, quoteChar, delimChar, trim, max } = c;
    const doubling = esc === quote;
    let nf = 0;
    let i = start;
    let nlc = -1; // next LF at or after the current unquoted field (BIG: none)
    for (;;) {
      let ch = s.charCodeAt(i);
      let j = i;
      if (trim) while (ch === 32 || ch === 9) ch = s.charCodeAt(++j);
      if (ch === quote) {
        const openQ = j;
        let k = j + 1;
        let seg = k;
        let val = '';
        let closeQ = -1;
        while (closeQ < 0) {
          let qp = -1;
          if (doubling) {
            qp = s.indexOf(quoteChar, k);
            if (qp >= 0 && s.charCodeAt(qp + 1) === quote) {
              val += s.slice(seg, qp + 1);
              k = seg = qp + 2;
              continue;
            }
            // A quote as the very last char of a NORMAL/OVERFLOW region could be the first of a pair.
            if (qp >= 0 && qp + 1 >= len && mode !== FINAL) qp = -1;
          } else {
            for (let t = k; t < len; t++) {
              const x = s.charCodeAt(t);
              if (x === quote) {
                qp = t;
                break;
              }
              if (x === esc) {
                if (t + 1 >= len) break; // the escaped char has not arrived
                const y = s.charCodeAt(t + 1);
                if (y === quote || y === esc) {
                  val += s.slice(seg, t);
                  seg = t + 1;
                  t++;
                }
              }
            }
          }
          if (qp < 0) {
            // No closing quote in this region.
            const oversize = this.#bytesBetween(start, len) > max;
            if (mode === NORMAL && !oversize) {
              this.#incomplete = this.#c.quote < 0x80;
              return INCOMPLETE;
            }
            return this.#rejectThroughLine(start, line, openQ, openQ, mode, oversize ? 'oversize' : 'unterminated');
          }
          val += s.slice(seg, qp);
          closeQ = qp;
        }
        k = closeQ + 1;
        if (this.#bytesBetween(start, k) > max)
          return this.#rejectThroughLine(start, line, openQ, openQ, mode, 'oversize');
        fields[nf++] = val;
        ch = s.charCodeAt(k);
        if (trim) while (ch === 32 || ch === 9) ch = s.charCodeAt(++k);
        if (ch === delim) {
          i = k + 1;
          continue;
        }
        if (ch === LF || (ch === CR && s.charCodeAt(k + 1) === LF)) {
          this.#nf = nf;
          return this.#finish(start, k, ch === LF ? k + 1 : k + 2, line);
        }
        if (k >= len || (ch === CR && k + 1 >= len)) {
          if (mode === FINAL) {
            this.#nf = nf;
            return this.#finish(start, k, len, line);
          }
          // OVERFLOW: the record goes on past the pending bytes without a line end.
          return this.#tail(start, line);
        }
        return this.#rejectThroughLine(start, line, k, k, mode, 'after-quote');
      }
      // Unquoted field (a quote inside it is an ordinary character).
      let nd = this.#nd;
      if (nd < i) {
        nd = s.indexOf(delimChar, i);
        if (nd < 0) nd = BIG;
        this.#nd = nd;
      }
      if (nlc < i) {
        nlc = s.indexOf('\n', i);
        if (nlc < 0) nlc = BIG;
      }
      const nl = nlc === BIG ? -1 : nlc;
      if (nd < len && (nl < 0 || nd < nl)) {
        fields[nf++] = trim ? s.slice(i, nd).trim() : s.slice(i, nd);
        i = nd + 1;
        continue;
      }
      if (nl < 0) {
        if (mode !== FINAL) return this.#tail(start, line);
        const ce = len > i && s.charCodeAt(len - 1) === CR ? len - 1 : len;
        fields[nf++] = trim ? s.slice(i, ce).trim() : s.slice(i, ce);
        this.#nf = nf;
        return this.#finish(start, ce, len, line);
      }
      const ce = nl > i && s.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      fields[nf++] = trim ? s.slice(i, ce).trim() : s.slice(i, ce);
      this.#nf = nf;
      return this.#finish(start, ce, nl + 1, line);
    }
  }

  /** A complete record [start, endc) with content up to contentEnd: emit it. */
  #finish(start: number, contentEnd: number, endc: number, line: number): number {
    const lines = this.#countLines(start, endc);
    this.#record(start, contentEnd, endc, line, line + lines);
    return endc;
  }

  /** OVERFLOW: the record's last line has no end yet and the record is too long: skip that line. */
  #tail(start: number, line: number): number {
    const curLine = line + this.#countLines(start, this.#len);
    this.#startSkip(start, line, `record is longer than maxRecordBytes (${bytesText(this.#c.max)})`, curLine);
    return this.#len;
  }

  /**
   * Reject from `start` through the end of the line holding char `at` (`pos` is where the problem is reported).
   * Returns the char index where decoding resumes.
   */
  #rejectThroughLine(
    start: number,
    line: number,
    at: number,
    pos: number,
    mode: number,
    kind: 'unterminated' | 'oversize' | 'after-quote' | 'long',
  ): number {
    const s = this.#s;
    const len = this.#len;
    let reason: string;
    // Where the limit was crossed decides the message, not where it was noticed (that depends on the chunking):
    // inside the quoted field, or in the unquoted text before it on the same line.
    if (kind === 'oversize' && this.#bytesBetween(start, pos) > this.#c.max) {
      kind = 'long';
      pos = start;
    }
    const w = this.#where(start, line, pos);
    if (kind === 'after-quote') {
      const ch = s.charCodeAt(pos);
      reason = `unexpected character ${JSON.stringify(String.fromCharCode(ch))} after the closing quote (expected the delimiter or a line end)`;
    } else if (kind === 'unterminated')
      reason = `unterminated quoted field (quote opened at line ${w.line}, column ${w.column})`;
    else if (kind === 'long') reason = `record is longer than maxRecordBytes (${bytesText(this.#c.max)})`;
    else
      reason = `quoted field opened at line ${w.line}, column ${w.column} is not closed within maxRecordBytes (${bytesText(this.#c.max)})`;
    const nl = s.indexOf('\n', at);
    if (nl < 0 && mode !== FINAL) {
      // The line holding the problem continues past the pending bytes: skip the rest of it as it arrives.
      this.#startSkip(start, line, reason, w.line, w, pos);
      return len;
    }
    const endc = nl < 0 ? len : nl + 1;
    const contentEnd = nl < 0 ? len : nl > start && s.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
    const offset = this.#byteAt(start);
    const errOffset = this.#byteAt(pos);
    const contentEndB = this.#byteAt(contentEnd);
    const endB = this.#byteAt(endc);
    const rec: DecodedRecord = {
      error: this.#error(reason, w.line, w.column, this.#base + errOffset),
      raw: this.#rawText(start, contentEnd, offset, contentEndB, endB),
      line,
      offset: this.#base + offset,
      end: this.#base + endB,
      endLine: line + this.#countLines(start, endc),
    };
    this.#emitError(rec);
    return endc;
  }

  /** Raw text of region chars [a, b) (bytes [ab, bb), record end eb): truncated for over-long records. */
  #rawText(a: number, b: number, ab: number, bb: number, eb: number): string | Uint8Array {
    const max = this.#c.max;
    // An over-long record (judged with its terminator, like the limit) keeps its first max bytes, decoded: the same
    // raw as when it is skipped before its end arrives.
    if (eb - ab > max) return decodeBytes(this.#q.buf, ab, ab + max, this.#enc);
    if (this.#bad && this.#hasBad(ab, bb)) return this.#q.copy(ab, bb);
    return this.#s.slice(a, b);
  }

  #hasBad(ab: number, bb: number): boolean {
    const bad = this.#bad;
    if (!bad) return false;
    for (const b of bad) if (b >= ab && b < bb) return true;
    return false;
  }

  /** Begin skipping the line that holds region char `start`...: the reject is emitted when its LF arrives. */
  #startSkip(
    start: number,
    line: number,
    reason: string,
    curLine: number,
    w?: { line: number; column: number },
    pos?: number,
  ): void {
    const ab = this.#byteAt(start);
    const max = this.#c.max;
    const rawEnd = Math.min(this.#q.len, ab + max);
    const errPos = pos === undefined ? ab : this.#byteAt(pos);
    const rec: DecodedRecord = {
      error: this.#error(reason, w?.line ?? line, w?.column ?? 1, this.#base + errPos),
      raw: decodeBytes(this.#q.buf, ab, rawEnd, this.#enc),
      line,
      offset: this.#base + ab,
      end: -1,
    };
    if (this.#needHeader) this.#headerFailed(rec);
    // The caller consumes the whole region; the skip goes on from the current (unfinished) line.
    this.#skip = { record: rec, line: curLine };
  }

  #emitError(rec: DecodedRecord): void {
    if (this.#needHeader) this.#headerFailed(rec);
    this.#out.push(rec);
  }

  #headerFailed(rec: DecodedRecord): void {
    this.#needHeader = false;
    const reason = `header row rejected: ${rec.error!.reason}`;
    rec.error!.reason = reason;
    this.#headerError = `no usable header (the header row at line ${rec.line} was rejected)`;
  }

  /** Emit a parsed record: fields[0..nf) span region chars [start, endc), content up to contentEnd. */
  #record(start: number, contentEnd: number, endc: number, line: number, endLine: number): void {
    const ab = this.#byteAt(start);
    const cb = this.#byteAt(contentEnd);
    const eb = this.#byteAt(endc);
    const base = this.#base;
    const nf = this.#nf;
    const c = this.#c;
    let error: RecordError | undefined;
    if (eb - ab > c.max) {
      error = this.#error(`record is longer than maxRecordBytes (${bytesText(c.max)})`, line, 1, base + ab);
    } else if (this.#bad && this.#hasBad(ab, eb)) {
      let b = -1;
      for (const x of this.#bad) {
        if (x >= ab && x < eb) {
          b = x;
          break;
        }
      }
      // Column: chars from the start of the bad byte's line (the substituted copy decodes one char per bad byte).
      let l = line;
      let ls = ab;
      for (let i = this.#q.indexOf(LF, ab); i >= 0 && i < b; i = this.#q.indexOf(LF, i + 1)) {
        l++;
        ls = i + 1;
      }
      const col = decodeBytes(this.#src, ls, b, 'utf-8').length + 1;
      error = this.#error(`invalid UTF-8 byte ${describeByte(this.#q.buf[b])}`, l, col, base + b);
    }
    if (error) {
      this.#emitError({
        error,
        raw: this.#rawText(start, contentEnd, ab, cb, eb),
        line,
        offset: base + ab,
        end: base + eb,
        endLine,
      });
      return;
    }
    const fields = this.#fields;
    if (this.#needHeader) {
      this.#needHeader = false;
      const cells = fields.slice(0, nf);
      this.#rawHeader = cells;
      if (!c.columns) this.#setNames(resolveHeader(cells, c.aliases));
      return;
    }
    if (this.#headerError) {
      this.#out.push({
        error: this.#error(this.#headerError, line, undefined, base + ab),
        raw: this.#s.slice(start, contentEnd),
        line,
        offset: base + ab,
        end: base + eb,
        endLine,
      });
      return;
    }
    const names = this.#names!;
    if (nf !== names.length) {
      const missing = nf < names.length;
      this.#out.push({
        error: this.#error(
          `expected ${names.length} fields, got ${nf}`,
          line,
          missing ? nf + 1 : names.length + 1,
          base + ab,
          missing ? names[nf] : undefined,
        ),
        raw: this.#s.slice(start, contentEnd),
        line,
        offset: base + ab,
        end: base + eb,
        endLine,
      });
      return;
    }
    this.#out.push({
      value: this.#build!(fields),
      raw: this.#s.slice(start, contentEnd),
      line,
      offset: base + ab,
      end: base + eb,
      endLine,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------

export class CsvFormat implements BoundFormat {
  readonly name = 'csv';
  readonly config: CsvConfig;

  constructor(options: CsvOptions) {
    this.config = configure(options);
  }

  streamDecoder(start: StreamStart): CsvDecoder {
    return new CsvDecoder(this.config, start);
  }

  decodeMessage(payload: Uint8Array | string, ref: string): DecodedRecord[] {
    const d = new CsvDecoder(
      this.config,
      { file: ref, offset: 0, line: 1 },
      typeof payload === 'string' ? 'utf-8' : undefined,
    );
    const out = d.push(payloadBytes(payload));
    for (const r of d.end()) out.push(r);
    return out;
  }
}

export const csvFormat: FormatSpec = {
  name: 'csv',
  summary: 'Delimited text (CSV, TSV, semicolon): header or declared columns, quotes, utf-8/latin1/cp1252.',
  options: csvOptionsSchema,
  bind(options) {
    return new CsvFormat(options as CsvOptions);
  },
};
