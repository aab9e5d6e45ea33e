/**
 * `jsonl`: JSON Lines (one JSON value per line, UTF-8). Blank lines are skipped; a line that is not valid JSON is
 * rejected with the position of the syntax error; a last line without terminator is a normal record.
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
import { bytesText, describeByte, MIB, maxRecordBytesSchema, payloadBytes, utf8Length } from './common.ts';
import { jsonSyntaxError } from './json-syntax.ts';
import { type Line, LineReader, type OversizedLine } from './lines.ts';

export interface JsonlOptions {
  maxRecordBytes?: number;
}

export const jsonlOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxRecordBytes: maxRecordBytesSchema(
      16 * MIB,
      'Largest line in bytes (terminator included). A longer line is rejected (its first maxRecordBytes bytes kept ' +
        'as raw) and skipped without being buffered; decoding resumes on the next line.',
    ),
  },
};

/**
 * Reject for a JSON text that JSON.parse refused: position of the syntax error. `firstColumn` is the column the text
 * starts at on its first line (null: unknown, then no column is reported for an error on that line).
 */
export function jsonError(
  text: string,
  err: unknown,
  file: string,
  line: number,
  lineOffset: number,
  firstColumn: number | null = 1,
): RecordError {
  const syn = jsonSyntaxError(text);
  if (!syn) {
    // JSON.parse failed for a reason other than syntax (e.g. nesting too deep for the engine).
    return { stage: 'decode', reason: `invalid JSON: ${(err as Error).message}`, file, line, offset: lineOffset };
  }
  // Position within a multi-line text (json format): count lines up to the error.
  let l = line;
  let ls = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < syn.index; i = text.indexOf('\n', i + 1)) {
    l++;
    ls = i + 1;
  }
  const column = l === line ? (firstColumn === null ? undefined : syn.index + firstColumn) : syn.index - ls + 1;
  return {
    stage: 'decode',
    reason: `invalid JSON at line ${l}${column === undefined ? '' : `, column ${column}`}: ${syn.message}`,
    file,
    line: l,
    column,
    offset: lineOffset + utf8Length(text, 0, syn.index),
  };
}

class JsonlDecoder implements StreamDecoder {
  readonly #file: string;
  readonly #reader: LineReader;
  readonly #max: number;
  #out: DecodedRecord[] = [];
  readonly #onLine = (l: Line) => this.#line(l);
  readonly #onOversized = (o: OversizedLine) => this.#oversized(o);

  constructor(start: StreamStart, max: number) {
    this.#file = start.file;
    this.#max = max;
    this.#reader = new LineReader(start, { bom: true, max, validateUtf8: true });
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    this.#reader.push(chunk, this.#onLine, this.#onOversized);
    return this.#take();
  }

  end(): DecodedRecord[] {
    this.#reader.end(this.#onLine, this.#onOversized);
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

  #line(l: Line): void {
    const { buf, start, contentEnd } = l;
    let i = start;
    while (i < contentEnd && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
    if (i === contentEnd) return; // blank line
    if (l.badUtf8 >= 0) {
      const column = buf.toString('utf8', start, l.badUtf8).length + 1;
      this.#out.push({
        error: {
          stage: 'decode',
          reason: `invalid UTF-8 byte ${describeByte(buf[l.badUtf8])}`,
          file: this.#file,
          line: l.line,
          column,
          offset: l.offset + (l.badUtf8 - start),
        },
        raw: Buffer.from(buf.subarray(start, contentEnd)),
        line: l.line,
        offset: l.offset,
        end: l.end,
        endLine: l.endLine,
      });
      return;
    }
    const text = buf.toString('utf8', start, contentEnd);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.#out.push({
        error: jsonError(text, err, this.#file, l.line, l.offset),
        raw: text,
        line: l.line,
        offset: l.offset,
        end: l.end,
        endLine: l.endLine,
      });
      return;
    }
    this.#out.push({ value, raw: text, line: l.line, offset: l.offset, end: l.end, endLine: l.endLine });
  }

  #oversized(o: OversizedLine): void {
    this.#out.push({
      error: {
        stage: 'decode',
        reason: `line is longer than maxRecordBytes (${bytesText(this.#max)})`,
        file: this.#file,
        line: o.line,
        column: 1,
        offset: o.offset,
      },
      raw: o.head.toString('utf8'),
      line: o.line,
      offset: o.offset,
      end: o.end,
      endLine: o.endLine,
    });
  }
}

export class JsonlFormat implements BoundFormat {
  readonly name = 'jsonl';
  readonly #max: number;

  constructor(o: JsonlOptions) {
    this.#max = o.maxRecordBytes ?? 16 * MIB;
  }

  streamDecoder(start: StreamStart): StreamDecoder {
    return new JsonlDecoder(start, this.#max);
  }

  decodeMessage(payload: Uint8Array | string, ref: string): DecodedRecord[] {
    const d = new JsonlDecoder({ file: ref, offset: 0, line: 1 }, this.#max);
    const out = d.push(payloadBytes(payload));
    for (const r of d.end()) out.push(r);
    return out;
  }
}

export const jsonlFormat: FormatSpec = {
  name: 'jsonl',
  summary: 'JSON Lines: one JSON value per line (UTF-8); blank lines skipped.',
  options: jsonlOptionsSchema,
  bind(options) {
    return new JsonlFormat(options as JsonlOptions);
  },
};
