/**
 * `json`: one JSON document per file or message; `recordPath` selects the records. Each value at the path is a
 * record, and when that value is an array each of its elements is a record (`$.items` → the items).
 *
 * The document is not parsed whole: a byte scanner follows the structure (brackets, strings, keys on the way to
 * the path), keeps only the current record's bytes and JSON.parses each record. So memory is one record, every
 * record has an exact byte offset, and a stream can resume after any record (the resume state is the chain of
 * containers leading to the records). Outside records the scanner checks the structure; inside a record the
 * record's own JSON.parse does, so a bad record is rejected alone (with the error position) and the next one is
 * decoded. A structural error outside records (mismatched bracket, stray character), or inside a record such that
 * its end cannot be found, ends the document: one reject, nothing further is decoded.
 */
import type {
  BoundFormat,
  DecodedRecord,
  FormatSpec,
  JsonSchema,
  StreamDecoder,
  StreamStart,
} from '../contracts/spi.ts';
import {
  ByteQueue,
  bomLength,
  bytesText,
  describeByte,
  invalidUtf8Positions,
  LF,
  MIB,
  maxRecordBytesSchema,
  payloadBytes,
  validUtf8,
} from './common.ts';
import { jsonError } from './jsonl.ts';

export interface JsonOptions {
  recordPath?: string;
  maxBytes?: number;
  maxRecordBytes?: number;
}

export const jsonOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    recordPath: {
      type: 'string',
      default: '$',
      description:
        'Where the records are: `$` (the document), `$.items`, `items.lines`, `$.orders[*].lines`, `$["odd key"]`. ' +
        'Each value at the path is a record; when it is an array, each element is. `*` / `[*]` match any member or ' +
        'element.',
    },
    maxBytes: {
      type: 'integer',
      minimum: 1,
      default: 256 * MIB,
      description: 'Largest document accepted; decoding stops with a reject at this many bytes.',
    },
    maxRecordBytes: maxRecordBytesSchema(
      64 * MIB,
      'Largest record (one value at recordPath) in bytes; a longer one is rejected, its first maxRecordBytes bytes ' +
        'kept as raw, and decoding goes on with the next record. Only the current record is held in memory.',
    ),
  },
};

// ---------------------------------------------------------------------------------------------------------------
// recordPath

/** A path segment: a member name, or a wildcard (`*`, `[*]`) matching any member or element. */
export type PathSegment = string | null;

export function parseRecordPath(path: string): PathSegment[] {
  let p = path.trim();
  if (p.startsWith('$')) p = p.slice(1);
  const segs: PathSegment[] = [];
  let i = 0;
  const bad = (why: string) => new Error(`invalid recordPath '${path}': ${why}`);
  while (i < p.length) {
    const c = p[i];
    if (c === '.') {
      i++;
      if (p[i] === '*') {
        segs.push(null);
        i++;
        continue;
      }
      const m = /^[^.[\]]+/.exec(p.slice(i));
      if (!m) throw bad(`expected a name after '.' at ${i + 1}`);
      segs.push(m[0]);
      i += m[0].length;
    } else if (c === '[') {
      const rest = p.slice(i);
      const m = /^\[\s*(?:(\*)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]/.exec(rest);
      if (!m) throw bad(`expected [*], ['name'] or ["name"] at ${i + 1}`);
      segs.push(m[1] ? null : (m[2] ?? m[3]).replace(/\\(.)/g, '$1'));
      i += m[0].length;
    } else if (i === 0) {
      // Leading name without `$.`
      const m = /^[^.[\]]+/.exec(p);
      if (!m) throw bad('unexpected character');
      segs.push(m[0] === '*' ? null : m[0]);
      i += m[0].length;
    } else throw bad(`unexpected '${c}' at ${i + 1}`);
  }
  return segs;
}

// ---------------------------------------------------------------------------------------------------------------
// Scanner

const OBJ = 1;
const ARR = 2;
/** Path frame modes: on the way to the path, or an array whose elements are the records. */
const PREFIX = 0;
const RECORDS = 1;

const S_VALUE = 0; // a value is expected
const S_ARR_FIRST = 1; // after '[': a value or ']'
const S_OBJ_FIRST = 2; // after '{': a key or '}'
const S_OBJ_KEY = 3; // after ',' in an object: a key
const S_COLON = 4;
const S_AFTER = 5; // after a value inside a container: ',' or the closing bracket
const S_STRING = 6; // a string outside records (key or skipped value)
const S_STRING_ESC = 7;
const S_TOKEN = 8; // a number or literal outside records
const S_DONE = 9; // after the root value: only whitespace
const S_DEAD = 10; // after a fatal error: ignore the rest
const S_RECORD = 11; // inside a record: only strings and nesting are tracked

const WS = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
const TOKEN_RE = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

interface Frame {
  mode: number;
  /** Path segments matched by this container. */
  d: number;
}

/**
 * Resume state: the containers (type, mode, matched depth) around the records at the checkpoint; `done` after a
 * root-level record; `failedAt` once the document was found broken: resuming at or past that offset decodes
 * nothing more, resuming before it (an earlier checkpoint) decodes normally up to the same error.
 */
export interface JsonResumeState {
  frames: Array<[number, number, number]>;
  done?: boolean;
  failedAt?: number;
  /** End offset of the record this state was taken after, and the column there (columns survive a resume). */
  at?: number;
  col?: number;
  /**
   * States of other records returned by the same push()/end() call whose containers differ (a wildcard path whose
   * matches have different shapes): a source may checkpoint any record of the call it took the state after.
   */
  alt?: JsonResumeState[];
}

interface JsonConfig {
  segs: PathSegment[];
  maxBytes: number;
  max: number;
}

class JsonDecoder implements StreamDecoder {
  readonly #c: JsonConfig;
  readonly #file: string;
  readonly #q = new ByteQueue();
  #base: number;
  /** Index in the queue of the next byte to scan (bytes before it are kept for the record/key/token). */
  #pos = 0;
  #bom: boolean;
  #out: DecodedRecord[] = [];

  #state = S_VALUE;
  /** Container types of the open containers outside records. */
  readonly #types: number[] = [];
  /** The path frames: the outermost #frames.length entries of #types. */
  readonly #frames: Frame[] = [];
  /** Whether the current member key matches the next path segment (objects on the path). */
  #keyMatch = false;
  #inKey = false;
  #keyStart = -1;
  #tokenStart = -1;

  /** Record in progress: absolute start, its line and column, nesting inside it. */
  #recStart = -1;
  #recLine = 0;
  #recCol = 0;
  readonly #rstack: number[] = [];
  #rStr = false;
  #rEsc = false;
  #rToken = false;
  /** Head of an over-long record (its bytes are no longer kept). */
  #recHead: Buffer | null = null;

  #line: number;
  /** Column (characters) of the next byte. */
  #col = 1;
  /** After resuming mid-line without the column of that point, columns on the first line are unknown. */
  readonly #startLine: number;
  #colKnown = true;
  #snapshot: JsonResumeState;

  constructor(c: JsonConfig, start: StreamStart) {
    this.#c = c;
    this.#file = start.file;
    this.#base = start.offset;
    this.#line = start.line;
    this.#startLine = start.line;
    this.#bom = start.offset === 0;
    const r0 = start.resume as JsonResumeState | null | undefined;
    const r = r0?.alt?.find((a) => a.at === start.offset) ?? r0;
    if (start.offset > 0) {
      if (r?.at === start.offset && r.col) this.#col = r.col;
      else this.#colKnown = false;
    }
    if (r0?.failedAt !== undefined && start.offset >= r0.failedAt) this.#state = S_DEAD;
    else if (r?.done) this.#state = S_DONE;
    else if (r?.frames?.length) {
      for (const [t, mode, d] of r.frames) {
        this.#types.push(t);
        this.#frames.push({ mode, d });
      }
      this.#state = S_AFTER;
    } else if (start.offset > 0) {
      throw new Error(`json: cannot resume ${start.file} at byte ${start.offset} without the resume state`);
    }
    this.#snapshot = this.#snap();
    if (this.#state === S_DEAD) this.#snapshot = { ...r0!, alt: undefined };
  }

  /** The state after the last returned record, plus any differing states of the other records of that call. */
  resumeState(): JsonResumeState {
    const latest = this.#snapshot;
    let alt: JsonResumeState[] | undefined;
    for (const s of this.#lastSnaps) {
      if (s !== latest && (s.done !== latest.done || !sameFrames(s.frames, latest.frames))) (alt ??= []).push(s);
    }
    return alt ? { ...latest, alt } : latest;
  }

  /** Snapshots of the records returned by the current call, and by the latest call that returned any. */
  #callSnaps: JsonResumeState[] = [];
  #lastSnaps: JsonResumeState[] = [];

  #endCall(): void {
    if (this.#callSnaps.length) this.#lastSnaps = this.#callSnaps;
    this.#callSnaps = [];
  }

  /** The containers as resume-state frames; rebuilt only when the chain of containers on the path changed. */
  #framesCache: JsonResumeState['frames'] | null = null;

  #snap(): JsonResumeState {
    if (this.#state === S_DONE) return { frames: [], done: true };
    this.#framesCache ??= this.#frames.map((f, i) => [this.#types[i], f.mode, f.d]);
    return { frames: this.#framesCache };
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    if (chunk.length > 0) {
      this.#q.append(chunk);
      this.#scan(false);
    }
    this.#endCall();
    return this.#take();
  }

  end(): DecodedRecord[] {
    this.#scan(true);
    const at = this.#base + this.#q.len;
    const st = this.#state;
    if (st === S_RECORD && this.#rToken) {
      // A number or literal record running to the end of the input.
      this.#recordEnd(at);
    } else if (st === S_TOKEN) {
      this.#tokenEnd(this.#q.buf, this.#q.len);
      if (this.#state !== S_DEAD) this.#afterValue();
    }
    if (this.#state === S_RECORD) this.#fatalRecord('the document ends inside this record', at, this.#col);
    else if (this.#state !== S_DEAD && this.#state !== S_DONE && at > 0)
      this.#fatal(`unexpected end of the document (${this.#types.length} container(s) still open)`, at, this.#col);
    this.#base = at;
    this.#pos = 0;
    this.#q.consume(this.#q.len);
    this.#endCall();
    return this.#take();
  }

  #take(): DecodedRecord[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  /** Run the scanner over the pending bytes, then drop what is no longer needed. */
  #scan(final: boolean): void {
    const q = this.#q;
    if (this.#bom) {
      const n = bomLength(q.buf, q.len, final);
      if (n < 0) return;
      this.#bom = false;
      q.consume(n);
      this.#base += n;
    }
    const base = this.#base;
    const len = q.len;
    const limit = this.#c.maxBytes - base;
    if (limit < len) {
      this.#loop(q.buf, this.#pos, Math.max(this.#pos, limit));
      if (this.#state !== S_DEAD) {
        const why = `the document is larger than maxBytes (${bytesText(this.#c.maxBytes)})`;
        if (this.#state === S_RECORD) this.#fatalRecord(why, this.#c.maxBytes, this.#col);
        else this.#fatal(why, this.#c.maxBytes, this.#col);
      }
    } else this.#loop(q.buf, this.#pos, len);
    if (this.#state === S_DEAD) {
      this.#base += len;
      this.#pos = 0;
      q.consume(len);
      return;
    }
    let keep = len;
    if (this.#state === S_RECORD) {
      if (!this.#recHead && base + len - this.#recStart > this.#c.max) {
        const a = this.#recStart - base;
        this.#recHead = q.copy(a, a + this.#c.max);
      }
      if (!this.#recHead) keep = this.#recStart - base;
    }
    if (this.#keyStart >= 0) keep = Math.min(keep, this.#keyStart - base);
    if (this.#tokenStart >= 0) keep = Math.min(keep, this.#tokenStart - base);
    this.#base += keep;
    this.#pos = len - keep;
    q.consume(keep);
  }

  /** Scan bytes [from, to) of buf (indexes relative to #base). */
  #loop(buf: Buffer, from: number, to: number): void {
    const base = this.#base;
    let i = from;
    while (i < to) {
      const st = this.#state;
      if (st === S_RECORD) {
        i = this.#recordLoop(buf, i, to);
        continue;
      }
      if (st === S_DEAD) return;
      const b = buf[i];
      if (b === LF) {
        this.#line++;
        this.#col = 1;
      } else if ((b & 0xc0) !== 0x80) this.#col++;
      if (st === S_STRING) {
        if (b === 0x22) this.#stringEnd(buf, i);
        else if (b === 0x5c) this.#state = S_STRING_ESC;
        i++;
        continue;
      }
      if (st === S_STRING_ESC) {
        this.#state = S_STRING;
        i++;
        continue;
      }
      if (st === S_TOKEN) {
        if (b === 0x2c || b === 0x5d || b === 0x7d || WS(b)) {
          this.#tokenEnd(buf, i);
          if (this.#state === S_DEAD) return;
          this.#afterValue();
          // Process the delimiter again in the new state.
          this.#unstep(b);
          continue;
        }
        i++;
        continue;
      }
      if (WS(b)) {
        i++;
        continue;
      }
      switch (st) {
        case S_VALUE:
        case S_ARR_FIRST:
          if (st === S_ARR_FIRST && b === 0x5d) this.#close();
          else if (this.#valueStart(i, b)) {
            // A record starts at this byte: the record loop takes it from here.
            this.#unstep(b);
            continue;
          }
          break;
        case S_OBJ_FIRST:
        case S_OBJ_KEY:
          if (st === S_OBJ_FIRST && b === 0x7d) this.#close();
          else if (b === 0x22) {
            this.#inKey = true;
            this.#state = S_STRING;
            if (this.#frames.length === this.#types.length) this.#keyStart = base + i;
          } else this.#fatal(`expected a property name, found ${what(b)}`, base + i);
          break;
        case S_COLON:
          if (b === 0x3a) this.#state = S_VALUE;
          else this.#fatal(`expected ':', found ${what(b)}`, base + i);
          break;
        case S_AFTER: {
          const top = this.#types[this.#types.length - 1];
          if (b === 0x2c) this.#state = top === OBJ ? S_OBJ_KEY : S_VALUE;
          else if ((b === 0x7d && top === OBJ) || (b === 0x5d && top === ARR)) this.#close();
          else this.#fatal(`expected ',' or '${top === OBJ ? '}' : ']'}', found ${what(b)}`, base + i);
          break;
        }
        case S_DONE:
          this.#fatal(`unexpected ${what(b)} after the end of the document`, base + i);
          break;
      }
      i++;
    }
  }

  /** Undo the line/column step for a byte that is processed again. */
  #unstep(b: number): void {
    if (b === LF) this.#line--;
    else if ((b & 0xc0) !== 0x80) this.#col--;
  }

  /** Inside a record: follow strings and nesting until the record's value ends. Returns where to go on. */
  #recordLoop(buf: Buffer, i: number, to: number): number {
    const stack = this.#rstack;
    let inStr = this.#rStr;
    let esc = this.#rEsc;
    let line = this.#line;
    let col = this.#col;
    for (; i < to; i++) {
      const b = buf[i];
      if (b === LF) {
        line++;
        col = 1;
      } else if ((b & 0xc0) !== 0x80) col++;
      if (inStr) {
        if (esc) esc = false;
        else if (b === 0x5c) esc = true;
        else if (b === 0x22) {
          inStr = false;
          if (stack.length === 0) {
            this.#line = line;
            this.#col = col;
            this.#rStr = false;
            this.#recordEnd(this.#base + i + 1);
            return i + 1;
          }
        }
        continue;
      }
      if (this.#rToken) {
        if (b === 0x2c || b === 0x5d || b === 0x7d || WS(b)) {
          // A scalar record ends before its delimiter, which the structure scanner reads next.
          if (b === LF) line--;
          else col--;
          this.#line = line;
          this.#col = col;
          this.#recordEnd(this.#base + i);
          return i;
        }
        continue;
      }
      if (b === 0x22) inStr = true;
      else if (b === 0x7b) stack.push(OBJ);
      else if (b === 0x5b) stack.push(ARR);
      else if (b === 0x7d || b === 0x5d) {
        const t = b === 0x7d ? OBJ : ARR;
        if (stack.pop() !== t) {
          this.#line = line;
          this.#col = col;
          this.#fatalRecord(`mismatched '${String.fromCharCode(b)}'`, this.#base + i);
          return to;
        }
        if (stack.length === 0) {
          this.#line = line;
          this.#col = col;
          this.#recordEnd(this.#base + i + 1);
          return i + 1;
        }
      } else if (stack.length === 0 && !WS(b)) this.#rToken = true;
    }
    this.#rStr = inStr;
    this.#rEsc = esc;
    this.#line = line;
    this.#col = col;
    return to;
  }

  /** A value begins at byte b (index i). Returns true when it is a record (the record loop reads it). */
  #valueStart(i: number, b: number): boolean {
    const abs = this.#base + i;
    const level = this.#types.length;
    const container = b === 0x7b ? OBJ : b === 0x5b ? ARR : 0;
    if (!container && !(b === 0x22 || b === 0x2d || (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a))) {
      this.#fatal(`expected a value, found ${what(b)}`, abs);
      return false;
    }
    if (level === this.#frames.length) {
      // Role of this value with respect to the record path.
      const segs = this.#c.segs;
      let matched = -1;
      if (level === 0) matched = 0;
      else {
        const f = this.#frames[level - 1];
        if (f.mode === RECORDS) matched = segs.length + 1;
        else if (this.#types[level - 1] === OBJ ? this.#keyMatch : segs[f.d] === null) matched = f.d + 1;
      }
      if (matched === segs.length && container === ARR) {
        this.#open(ARR, RECORDS, matched);
        return false;
      }
      if (matched >= segs.length) {
        this.#recStart = abs;
        this.#recLine = this.#line;
        this.#recCol = this.#col - 1;
        this.#recHead = null;
        this.#rstack.length = 0;
        this.#rStr = false;
        this.#rEsc = false;
        this.#rToken = false;
        this.#state = S_RECORD;
        return true;
      }
      if (matched >= 0 && container) {
        this.#open(container, PREFIX, matched);
        return false;
      }
    }
    if (container) this.#open(container, -1, 0);
    else if (b === 0x22) {
      this.#inKey = false;
      this.#state = S_STRING;
    } else {
      this.#state = S_TOKEN;
      this.#tokenStart = abs;
    }
    return false;
  }

  #open(t: number, mode: number, d: number): void {
    this.#types.push(t);
    if (mode >= 0) {
      this.#frames.push({ mode, d });
      this.#framesCache = null;
    }
    this.#state = t === OBJ ? S_OBJ_FIRST : S_ARR_FIRST;
  }

  #close(): void {
    this.#types.pop();
    if (this.#frames.length > this.#types.length) {
      this.#frames.pop();
      this.#framesCache = null;
    }
    this.#afterValue();
  }

  #stringEnd(buf: Buffer, i: number): void {
    if (!this.#inKey) {
      this.#afterValue();
      return;
    }
    this.#inKey = false;
    this.#state = S_COLON;
    this.#keyMatch = false;
    if (this.#keyStart >= 0) {
      const ks = this.#keyStart - this.#base;
      this.#keyStart = -1;
      const seg = this.#c.segs[this.#frames[this.#frames.length - 1].d];
      if (seg === null) this.#keyMatch = true;
      else if (seg !== undefined) {
        try {
          this.#keyMatch = JSON.parse(buf.toString('utf8', ks, i + 1)) === seg;
        } catch {
          this.#fatal('invalid property name', this.#base + ks);
        }
      }
    }
  }

  #tokenEnd(buf: Buffer, i: number): void {
    const start = this.#tokenStart - this.#base;
    this.#tokenStart = -1;
    const text = buf.toString('latin1', start, i);
    if (!TOKEN_RE.test(text)) this.#fatal(`invalid value ${JSON.stringify(text.slice(0, 40))}`, this.#base + start);
    else this.#state = S_AFTER;
  }

  /** A value (outside records) just completed. */
  #afterValue(): void {
    this.#state = this.#types.length === 0 ? S_DONE : S_AFTER;
  }

  /** The record in progress ends at absolute offset `end` (exclusive). */
  #recordEnd(end: number): void {
    const start = this.#recStart;
    this.#recStart = -1;
    this.#rToken = false;
    this.#afterValue();
    this.#out.push(this.#decodeRecord(start, end));
    this.#recHead = null;
    this.#snapshot = { ...this.#snap(), at: end, col: this.#col };
    this.#callSnaps.push(this.#snapshot);
  }

  #decodeRecord(start: number, end: number): DecodedRecord {
    const file = this.#file;
    const line = this.#recLine;
    const endLine = this.#line;
    const max = this.#c.max;
    if (this.#recHead || end - start > max) {
      const head = this.#recHead ?? this.#q.copy(start - this.#base, start - this.#base + max);
      return {
        error: {
          stage: 'decode',
          reason: `record is longer than maxRecordBytes (${bytesText(max)})`,
          file,
          line,
          column: this.#colAt(line, this.#recCol),
          offset: start,
        },
        raw: head.toString('utf8'),
        line,
        offset: start,
        end,
        endLine,
      };
    }
    const buf = this.#q.buf;
    const a = start - this.#base;
    const b = end - this.#base;
    if (!validUtf8(buf, a, b)) {
      const bad = invalidUtf8Positions(buf, a, b)[0];
      let l = line;
      let ls = a;
      for (let k = buf.indexOf(LF, a); k >= 0 && k < bad; k = buf.indexOf(LF, k + 1)) {
        l++;
        ls = k + 1;
      }
      const column =
        l === line
          ? this.#colAt(line, buf.toString('utf8', ls, bad).length + this.#recCol)
          : buf.toString('utf8', ls, bad).length + 1;
      return {
        error: {
          stage: 'decode',
          reason: `invalid UTF-8 byte ${describeByte(buf[bad])}`,
          file,
          line: l,
          column,
          offset: this.#base + bad,
        },
        raw: Buffer.from(buf.subarray(a, b)),
        line,
        offset: start,
        end,
        endLine,
      };
    }
    const text = buf.toString('utf8', a, b);
    try {
      return { value: JSON.parse(text), raw: text, line, offset: start, end, endLine };
    } catch (err) {
      return {
        error: jsonError(text, err, file, line, start, this.#colAt(line, this.#recCol) ?? null),
        raw: text,
        line,
        offset: start,
        end,
        endLine,
      };
    }
  }

  /** `col` unless it lies on the resume line whose start column is unknown. */
  #colAt(line: number, col: number): number | undefined {
    return this.#colKnown || line !== this.#startLine ? col : undefined;
  }

  /** Line and column of the byte just scanned, or `column` when given (e.g. past the end). */
  #position(column?: number): { line: number; column: number | undefined; at: string } {
    const c = this.#colAt(this.#line, column ?? Math.max(1, this.#col - 1));
    return { line: this.#line, column: c, at: `line ${this.#line}${c === undefined ? '' : `, column ${c}`}` };
  }

  /** A structural error at absolute offset `at` outside records: the document ends here. */
  #fatal(reason: string, at: number, column?: number): void {
    const p = this.#position(column);
    const a = at - this.#base;
    // The reject covers the offending byte (so its end lies past every earlier record's end); raw is that byte.
    const has = a >= 0 && a < this.#q.len;
    const raw = has ? this.#q.buf.toString('latin1', a, a + 1) : '';
    const end = has ? at + 1 : at;
    this.#out.push({
      error: {
        stage: 'decode',
        reason: `invalid JSON document at ${p.at}: ${reason}; nothing after it is decoded`,
        file: this.#file,
        line: p.line,
        column: p.column,
        offset: at,
      },
      raw,
      line: p.line,
      offset: at,
      end,
      endLine: p.line,
    });
    this.#die(end);
  }

  /** A record whose end cannot be found: reject it up to the error and stop. */
  #fatalRecord(reason: string, at: number, column?: number): void {
    const p = this.#position(column);
    const start = this.#recStart;
    const a = start - this.#base;
    const end = Math.max(start, Math.min(at + 1, this.#base + this.#q.len));
    const raw = this.#recHead
      ? this.#recHead.toString('utf8')
      : this.#q.buf.toString('utf8', a, Math.min(end - this.#base, a + this.#c.max));
    this.#out.push({
      error: {
        stage: 'decode',
        reason: `invalid JSON document at ${p.at}: ${reason}; nothing after it is decoded`,
        file: this.#file,
        line: p.line,
        column: p.column,
        offset: at,
      },
      raw,
      line: this.#recLine,
      offset: start,
      end,
      endLine: p.line,
    });
    this.#die(end);
  }

  #die(failedAt: number): void {
    this.#state = S_DEAD;
    this.#recStart = -1;
    this.#recHead = null;
    this.#keyStart = -1;
    this.#tokenStart = -1;
    // Keep the containers of the last record: a checkpoint before the failure still resumes normally.
    this.#snapshot = { ...this.#snapshot, failedAt };
  }
}

function sameFrames(a: JsonResumeState['frames'], b: JsonResumeState['frames']): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++)
    if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1] || a[i][2] !== b[i][2]) return false;
  return true;
}

function what(b: number): string {
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `byte ${describeByte(b)}`;
}

export class JsonFormat implements BoundFormat {
  readonly name = 'json';
  readonly #c: JsonConfig;

  constructor(o: JsonOptions) {
    this.#c = {
      segs: parseRecordPath(o.recordPath ?? '$'),
      maxBytes: o.maxBytes ?? 256 * MIB,
      max: o.maxRecordBytes ?? 64 * MIB,
    };
  }

  streamDecoder(start: StreamStart): StreamDecoder {
    return new JsonDecoder(this.#c, start);
  }

  decodeMessage(payload: Uint8Array | string, ref: string): DecodedRecord[] {
    const d = new JsonDecoder(this.#c, { file: ref, offset: 0, line: 1 });
    const out = d.push(payloadBytes(payload));
    for (const r of d.end()) out.push(r);
    return out;
  }
}

export const jsonFormat: FormatSpec = {
  name: 'json',
  summary: 'One JSON document per file or message; recordPath selects the records (streamed, one record in memory).',
  options: jsonOptionsSchema,
  bind(options) {
    return new JsonFormat(options as JsonOptions);
  },
};
