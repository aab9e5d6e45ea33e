/**
 * `fixed-width`: fields at fixed character positions, in newline-terminated lines (default) or in fixed-length
 * records without separators (`recordLength`). Positions count characters of the decoded line, which for the
 * single-byte encodings (the usual case for these files) are bytes.
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
  decodeBytes,
  describeByte,
  type Encoding,
  encodingSchema,
  invalidUtf8Positions,
  MIB,
  maxRecordBytesSchema,
  normalizeEncoding,
  payloadBytes,
  validUtf8,
} from './common.ts';
import { type Line, LineReader, type OversizedLine } from './lines.ts';

export interface FixedWidthColumn {
  name: string;
  /** 0-based start (characters). Omitted: right after the previous column. */
  start?: number;
  length?: number;
  /** Synonym of length, for sequential layouts. */
  width?: number;
}

export interface FixedWidthOptions {
  columns: FixedWidthColumn[];
  recordLength?: number;
  encoding?: string;
  trim?: boolean;
  skipEmptyLines?: boolean;
  maxRecordBytes?: number;
}

export const fixedWidthOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['columns'],
  properties: {
    columns: {
      type: 'array',
      minItems: 1,
      description:
        'The layout, in order: `{name, start, length}` (0-based start) or `{name, width}` (starts right after the ' +
        'previous column). Columns may leave gaps; characters past the last column are ignored.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1, description: 'Field name.' },
          start: { type: 'integer', minimum: 0, description: '0-based start position (characters).' },
          length: { type: 'integer', minimum: 1, description: 'Field length (characters).' },
          width: { type: 'integer', minimum: 1, description: 'Same as length.' },
        },
        oneOf: [{ required: ['length'] }, { required: ['width'] }],
      },
    },
    recordLength: {
      type: 'integer',
      minimum: 1,
      description:
        'Records are exactly this many bytes with no line separator (mainframe-style). Omitted: records are lines ' +
        'ended by LF or CRLF.',
    },
    encoding: encodingSchema(),
    trim: { type: 'boolean', default: true, description: 'Trim whitespace (padding) around each value.' },
    skipEmptyLines: { type: 'boolean', default: true, description: 'Skip lines with no characters (line mode).' },
    maxRecordBytes: maxRecordBytesSchema(MIB),
  },
};

interface Col {
  name: string;
  start: number;
  end: number;
}

interface FwConfig {
  cols: Col[];
  /** Columns by end position, for naming the first one a short line cuts. */
  byEnd: Col[];
  need: number;
  recordLength: number | null;
  encoding: Encoding;
  trim: boolean;
  skipEmpty: boolean;
  max: number;
  build: (line: string) => Record<string, string>;
}

function configure(o: FixedWidthOptions): FwConfig {
  if (!Array.isArray(o.columns) || o.columns.length === 0) throw new Error('columns must list at least one field');
  const cols: Col[] = [];
  const seen = new Set<string>();
  let next = 0;
  for (const c of o.columns) {
    const length = c.length ?? c.width;
    if (length === undefined || length < 1) throw new Error(`column '${c.name}' needs a length (or width) ≥ 1`);
    if (c.length !== undefined && c.width !== undefined && c.length !== c.width)
      throw new Error(`column '${c.name}' has both length and width`);
    const start = c.start ?? next;
    if (seen.has(c.name)) throw new Error(`column '${c.name}' is declared twice`);
    seen.add(c.name);
    cols.push({ name: c.name, start, end: start + length });
    next = start + length;
  }
  const need = Math.max(...cols.map((c) => c.end));
  if (o.recordLength !== undefined && need > o.recordLength)
    throw new Error(`the layout needs ${need} characters but recordLength is ${o.recordLength}`);
  const trim = o.trim ?? true;
  const props = cols.map(
    (c) =>
      `${c.name === '__proto__' ? '["__proto__"]' : JSON.stringify(c.name)}: l.slice(${c.start}, ${c.end})${trim ? '.trim()' : ''}`,
  );
  return {
    cols,
    byEnd: [...cols].sort((a, b) => a.end - b.end),
    need,
    recordLength: o.recordLength ?? null,
    encoding: normalizeEncoding(o.encoding),
    trim,
    skipEmpty: o.skipEmptyLines ?? true,
    max: Math.max(o.maxRecordBytes ?? MIB, o.recordLength ?? 0),
    build: new Function('l', `return { ${props.join(', ')} };`) as (line: string) => Record<string, string>,
  };
}

class FixedWidthDecoder implements StreamDecoder {
  readonly #c: FwConfig;
  readonly #file: string;
  readonly #enc: Encoding;
  #out: DecodedRecord[] = [];
  // Line mode
  readonly #reader: LineReader | null;
  readonly #onLine = (l: Line) => this.#line(l);
  readonly #onOversized = (o: OversizedLine) => this.#oversized(o);
  // Record-length mode
  readonly #q = new ByteQueue();
  #base: number;
  #bom: boolean;

  constructor(c: FwConfig, start: StreamStart, encoding?: Encoding) {
    this.#c = c;
    this.#file = start.file;
    this.#enc = encoding ?? c.encoding;
    this.#base = start.offset;
    this.#bom = start.offset === 0 && this.#enc === 'utf-8';
    this.#reader =
      c.recordLength === null
        ? new LineReader(start, { bom: this.#enc === 'utf-8', max: c.max, validateUtf8: this.#enc === 'utf-8' })
        : null;
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    if (this.#reader) this.#reader.push(chunk, this.#onLine, this.#onOversized);
    else {
      this.#q.append(chunk);
      this.#records(false);
    }
    return this.#take();
  }

  end(): DecodedRecord[] {
    if (this.#reader) this.#reader.end(this.#onLine, this.#onOversized);
    else this.#records(true);
    return this.#take();
  }

  resumeState(): null {
    return null;
  }

  #take(): DecodedRecord[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #error(
    reason: string,
    line: number | undefined,
    column: number | undefined,
    offset: number,
    field?: string,
  ): RecordError {
    const e: RecordError = { stage: 'decode', reason, file: this.#file, line, column, offset };
    if (field !== undefined) e.field = field;
    return e;
  }

  /** Decode one record's text into a value or a reject. */
  #emit(text: string, line: number | undefined, offset: number, end: number, endLine: number | undefined): void {
    const c = this.#c;
    if (text.length < c.need) {
      const cut = c.byEnd.find((col) => col.end > text.length)!;
      this.#out.push({
        error: this.#error(
          `line is ${text.length} characters, the layout needs ${c.need}: field '${cut.name}' ` +
            `(start ${cut.start}, length ${cut.end - cut.start}) is ${cut.start >= text.length ? 'missing' : 'cut'}`,
          line,
          Math.min(cut.start, text.length) + 1,
          offset,
          cut.name,
        ),
        raw: text,
        line,
        offset,
        end,
        endLine,
      });
      return;
    }
    this.#out.push({ value: c.build(text), raw: text, line, offset, end, endLine });
  }

  #line(l: Line): void {
    const { buf, start, contentEnd } = l;
    if (contentEnd === start && this.#c.skipEmpty) return;
    if (l.badUtf8 >= 0) {
      this.#out.push({
        error: this.#error(
          `invalid UTF-8 byte ${describeByte(buf[l.badUtf8])}`,
          l.line,
          buf.toString('utf8', start, l.badUtf8).length + 1,
          l.offset + (l.badUtf8 - start),
        ),
        raw: Buffer.from(buf.subarray(start, contentEnd)),
        line: l.line,
        offset: l.offset,
        end: l.end,
        endLine: l.endLine,
      });
      return;
    }
    this.#emit(decodeBytes(buf, start, contentEnd, this.#enc), l.line, l.offset, l.end, l.endLine);
  }

  #oversized(o: OversizedLine): void {
    this.#out.push({
      error: this.#error(`line is longer than maxRecordBytes (${bytesText(this.#c.max)})`, o.line, 1, o.offset),
      raw: decodeBytes(o.head, 0, o.head.length, this.#enc),
      line: o.line,
      offset: o.offset,
      end: o.end,
      endLine: o.endLine,
    });
  }

  /** Record-length mode: cut the pending bytes into records of exactly recordLength bytes. */
  #records(final: boolean): void {
    const q = this.#q;
    const n = this.#c.recordLength!;
    if (this.#bom) {
      const b = bomLength(q.buf, q.len, final);
      if (b < 0) return;
      this.#bom = false;
      q.consume(b);
      this.#base += b;
    }
    let pos = 0;
    while (q.len - pos >= n) {
      this.#fixed(pos, pos + n);
      pos += n;
    }
    if (final && pos < q.len) {
      // Trailing line breaks / EOF marker after the last record are not a record.
      let i = pos;
      while (i < q.len && (q.buf[i] === 0x0a || q.buf[i] === 0x0d || q.buf[i] === 0x1a)) i++;
      if (i < q.len) {
        const offset = this.#base + pos;
        this.#out.push({
          error: this.#error(`truncated record: ${q.len - pos} of ${n} bytes`, undefined, undefined, offset),
          raw: decodeBytes(q.buf, pos, q.len, this.#enc),
          offset,
          end: this.#base + q.len,
        });
      }
      pos = q.len;
    }
    this.#base += pos;
    q.consume(pos);
  }

  #fixed(a: number, b: number): void {
    const buf = this.#q.buf;
    const offset = this.#base + a;
    const end = this.#base + b;
    if (this.#enc === 'utf-8' && !validUtf8(buf, a, b)) {
      const bad = invalidUtf8Positions(buf, a, b)[0];
      this.#out.push({
        error: this.#error(
          `invalid UTF-8 byte ${describeByte(buf[bad])}`,
          undefined,
          buf.toString('utf8', a, bad).length + 1,
          this.#base + bad,
        ),
        raw: Buffer.from(buf.subarray(a, b)),
        offset,
        end,
      });
      return;
    }
    this.#emit(decodeBytes(buf, a, b, this.#enc), undefined, offset, end, undefined);
  }
}

export class FixedWidthFormat implements BoundFormat {
  readonly name = 'fixed-width';
  readonly #c: FwConfig;

  constructor(o: FixedWidthOptions) {
    this.#c = configure(o);
  }

  streamDecoder(start: StreamStart): StreamDecoder {
    return new FixedWidthDecoder(this.#c, start);
  }

  decodeMessage(payload: Uint8Array | string, ref: string): DecodedRecord[] {
    const d = new FixedWidthDecoder(
      this.#c,
      { file: ref, offset: 0, line: 1 },
      typeof payload === 'string' ? 'utf-8' : undefined,
    );
    const out = d.push(payloadBytes(payload));
    for (const r of d.end()) out.push(r);
    return out;
  }
}

export const fixedWidthFormat: FormatSpec = {
  name: 'fixed-width',
  summary: 'Fixed-width fields: newline-terminated lines or fixed-length records; utf-8/latin1/cp1252.',
  options: fixedWidthOptionsSchema,
  bind(options) {
    return new FixedWidthFormat(options as unknown as FixedWidthOptions);
  },
};
