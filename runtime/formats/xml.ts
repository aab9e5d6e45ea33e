/**
 * `xml`: streaming XML with saxes. `recordPath` (e.g. `/Orders/Order`) selects the elements that become records;
 * each is turned into a plain object: attributes as `@name`, child elements as properties (repeated children as
 * arrays), text as a string for a leaf element and as `#text` next to attributes or children.
 *
 * Offsets: a record's `offset` is the byte offset of its `<`, `end` the byte just past its closing `>` (exact, for
 * UTF-8 and single-byte encodings). The text between records is not part of any record.
 *
 * Errors: saxes is stopped at the first well-formedness error. The reject covers the record in progress (or, outside
 * records, the text since the last record), up to the start tag of the next record, found textually (`<Order` +
 * space, `/` or `>`); a fresh parser resumes there, seeded with the record's ancestor elements. The same seeding
 * resumes a stream from a checkpoint. Text that merely looks like a record start tag (inside a comment or CDATA)
 * can mislead this resynchronisation; it only happens after an error.
 */
import { SaxesParser, type SaxesTagPlain } from 'saxes';
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
  bytesText,
  decodeBytes,
  describeByte,
  type Encoding,
  ENCODING_VALUES,
  invalidUtf8Positions,
  MIB,
  normalizeEncoding,
  payloadBytes,
  utf8IncompleteTail,
  utf8Length,
  validUtf8,
} from './common.ts';

export interface XmlOptions {
  recordPath: string;
  encoding?: string;
  keepPrefixes?: boolean;
  alwaysArray?: string[];
  maxRecordBytes?: number;
}

export const xmlOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['recordPath'],
  properties: {
    recordPath: {
      type: 'string',
      pattern: '^(/[^/\\s]+)+$',
      description:
        'Absolute path of the record elements, e.g. `/Orders/Order`. A name without prefix matches any namespace ' +
        'prefix (`Order` matches `ns0:Order`); `*` matches any ancestor element (not the record element itself).',
    },
    encoding: {
      type: 'string',
      enum: ['auto', ...ENCODING_VALUES],
      default: 'auto',
      description:
        'Character encoding. `auto`: a UTF-8 BOM, else the XML declaration (utf-8, iso-8859-1, windows-1252, ' +
        'us-ascii), else utf-8.',
    },
    keepPrefixes: {
      type: 'boolean',
      default: false,
      description:
        'Keep namespace prefixes in property names (`ns0:Sku`); by default `Sku`. xmlns attributes are dropped.',
    },
    alwaysArray: {
      type: 'array',
      items: { type: 'string' },
      default: [],
      description: 'Child element names that always become arrays, even when they occur once (e.g. `[Line]`).',
    },
    maxRecordBytes: {
      type: 'integer',
      minimum: 16,
      default: 16 * MIB,
      description:
        'Largest record element; a longer one is rejected (its first characters kept as raw) and decoding goes on.',
    },
  },
};

// ---------------------------------------------------------------------------------------------------------------

interface XmlConfig {
  /** Path segments; null = any element. */
  segs: Array<string | null>;
  recordName: string;
  encoding: Encoding | null;
  keepPrefixes: boolean;
  alwaysArray: Set<string>;
  max: number;
  /** Finds the next start tag of a record element (resynchronisation). */
  startTag: RegExp;
}

function configure(o: XmlOptions): XmlConfig {
  const path = String(o.recordPath ?? '').trim();
  if (!/^(\/[^/\s]+)+$/.test(path)) throw new Error(`invalid recordPath '${path}': expected /Root/.../Record`);
  const segs = path
    .split('/')
    .slice(1)
    .map((s) => (s === '*' ? null : s));
  const last = segs[segs.length - 1];
  if (last === null) throw new Error(`invalid recordPath '${path}': the record element must be named, not *`);
  const esc = last.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  const startTag = last.includes(':')
    ? new RegExp(`<${esc}(?=[\\s/>])`, 'g')
    : new RegExp(`<(?:[^\\s<>/:="']+:)?${esc}(?=[\\s/>])`, 'g');
  return {
    segs,
    recordName: last,
    encoding: o.encoding === undefined || o.encoding === 'auto' ? null : normalizeEncoding(o.encoding),
    keepPrefixes: o.keepPrefixes ?? false,
    alwaysArray: new Set(o.alwaysArray ?? []),
    max: o.maxRecordBytes ?? 16 * MIB,
    startTag,
  };
}

const localName = (q: string): string => {
  const i = q.indexOf(':');
  return i < 0 ? q : q.slice(i + 1);
};

function segMatches(seg: string | null, qname: string): boolean {
  if (seg === null) return true;
  if (seg.includes(':')) return seg === qname;
  return seg === qname || seg === localName(qname);
}

/** Resume state: encoding in use and the record's ancestor elements (qualified names). */
export interface XmlResumeState {
  encoding: Encoding;
  ancestors: string[];
  failed?: boolean;
  /** End offset of the record this state was taken after, and the 0-based column there. */
  at?: number;
  col?: number;
  /** States of other records returned by the same push()/end() call whose ancestors differ (`*` in the path). */
  alt?: XmlResumeState[];
}

/** A position in the decoded text: absolute char index, byte offset, line and 0-based column. */
interface Pos {
  c: number;
  b: number;
  line: number;
  col: number;
}

interface Node {
  obj: Record<string, unknown>;
  text: string;
  children: boolean;
  attrs: boolean;
  key: string;
}

/** Thrown from a saxes handler to stop the parser at its first error. */
class XmlStop {
  readonly message: string;
  readonly at: number;
  constructor(message: string, at: number) {
    this.message = message;
    this.at = at;
  }
}

function setProp(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

const TRAIL = 4096;

class XmlDecoder implements StreamDecoder {
  readonly #c: XmlConfig;
  readonly #file: string;
  #out: DecodedRecord[] = [];

  // Bytes not yet decoded (encoding detection, a UTF-8 sequence cut by the chunk).
  readonly #q = new ByteQueue();
  #qBase: number;
  #atStart: boolean;
  #enc: Encoding | null;
  /** Invalid UTF-8 bytes (absolute offset → value), replaced by U+001A in the text, which saxes rejects. */
  readonly #invalid = new Map<number, number>();
  #failed: string | null = null;
  #failedAt = 0;
  #failedReported = false;

  // Decoded text kept: [#winBase, #winBase + #win.length) in absolute chars.
  #win = '';
  #winBase = 0;
  #cur: Pos;

  // Parser session.
  #p!: SaxesParser;
  #origin = 0;
  #prefixLen = 0;
  #names: string[] = [];
  #match = 0;
  #pendingLt = 0;

  // Record in progress.
  #rec: Pos | null = null;
  #recDepth = -1;
  #nodes: Node[] = [];
  #recHead: string | null = null;
  #ancestors: string[];
  /** Absolute char where the last record ended (or the last trim outside records). */
  #lastSafe = 0;

  // Error recovery: the damaged span, waiting for the next record start tag.
  #seek: { from: Pos; head: string | null; error: RecordError; scanFrom: number } | null = null;

  #snapshot: XmlResumeState | null = null;
  /** After resuming mid-line without the column of that point, columns on the first line are unknown. */
  readonly #startLine: number;
  #colKnown = true;

  constructor(c: XmlConfig, start: StreamStart, encoding?: Encoding) {
    this.#c = c;
    this.#file = start.file;
    this.#qBase = start.offset;
    this.#atStart = start.offset === 0;
    const r0 = start.resume as XmlResumeState | null | undefined;
    const r = r0?.alt?.find((a) => a.at === start.offset) ?? r0;
    this.#enc = encoding ?? c.encoding ?? r?.encoding ?? null;
    this.#cur = { c: 0, b: start.offset, line: start.line, col: 0 };
    this.#startLine = start.line;
    if (start.offset > 0) {
      if (r?.at === start.offset && r.col !== undefined) this.#cur.col = r.col;
      else this.#colKnown = false;
    }
    this.#ancestors = r?.ancestors ?? c.segs.slice(0, -1).map((s) => s ?? '_');
    if (r?.failed) {
      this.#failed = 'the document was rejected before the checkpoint';
      this.#failedReported = true;
    } else if (start.offset > 0 && !r)
      throw new Error(`xml: cannot resume ${start.file} at byte ${start.offset} without the resume state`);
    if (start.offset > 0) {
      this.#atStart = false;
      this.#session(0, this.#ancestors);
    } else this.#session(0, []);
  }

  /** The state after the last returned record, plus any differing states of the other records of that call. */
  resumeState(): XmlResumeState | null {
    const latest = this.#snapshot;
    if (!latest) return null;
    let alt: XmlResumeState[] | undefined;
    for (const s of this.#lastSnaps) {
      if (s !== latest && s.ancestors.join('\u0000') !== latest.ancestors.join('\u0000')) (alt ??= []).push(s);
    }
    return alt ? { ...latest, alt } : latest;
  }

  /** Snapshots of the records returned by the current call, and by the latest call that returned any. */
  #callSnaps: XmlResumeState[] = [];
  #lastSnaps: XmlResumeState[] = [];

  #endCall(): void {
    if (this.#callSnaps.length) this.#lastSnaps = this.#callSnaps;
    this.#callSnaps = [];
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    if (chunk.length === 0) return [];
    this.#q.append(chunk);
    this.#decode(false);
    this.#endCall();
    return this.#take();
  }

  end(): DecodedRecord[] {
    this.#decode(true);
    if (this.#failed !== null) {
      this.#finishFailed();
      return this.#take();
    }
    // Close the parser; an error found only now (e.g. an unclosed element) is recovered like any other.
    for (;;) {
      try {
        if (this.#seek) {
          const r = this.#resync();
          if (r < 0) {
            this.#emitSpan(this.#measure(this.#winBase + this.#win.length, this.#seek.from));
            break;
          }
          this.#p.write(this.#win.slice(r - this.#winBase));
        }
        this.#p.close();
        break;
      } catch (e) {
        if (!(e instanceof XmlStop)) throw e;
        this.#stop(e);
      }
    }
    this.#endCall();
    return this.#take();
  }

  #take(): DecodedRecord[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Bytes → text

  #decode(final: boolean): void {
    const q = this.#q;
    if (this.#failed !== null) {
      this.#qBase += q.len;
      q.consume(q.len);
      return;
    }
    if (this.#atStart) {
      const r = this.#detect(final);
      if (r === 'wait') return;
      this.#atStart = false;
      if (this.#failed !== null) {
        this.#decode(final);
        return;
      }
    }
    if (!this.#enc) this.#enc = 'utf-8';
    let n = q.len;
    if (this.#enc === 'utf-8' && !final) n -= utf8IncompleteTail(q.buf, 0, n);
    if (n <= 0) return;
    let src = q.buf;
    if (this.#enc === 'utf-8' && !validUtf8(src, 0, n)) {
      const bad = invalidUtf8Positions(src, 0, n);
      src = Buffer.from(src.subarray(0, n));
      for (const b of bad) {
        this.#invalid.set(this.#qBase + b, src[b]);
        src[b] = 0x1a;
      }
    }
    const text = decodeBytes(src, 0, n, this.#enc);
    this.#qBase += n;
    q.consume(n);
    this.#feed(text);
  }

  /** Encoding from a BOM or the XML declaration. */
  #detect(final: boolean): 'wait' | 'ok' {
    const q = this.#q;
    const buf = q.buf;
    const len = q.len;
    if (len < 4 && !final) return 'wait';
    if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
      this.#fail('UTF-16 input is not supported (convert the file to UTF-8)');
      return 'ok';
    }
    if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf && len >= 3) {
      if (this.#enc === null || this.#enc === 'utf-8') {
        this.#enc = 'utf-8';
        q.consume(3);
        this.#qBase += 3;
        this.#cur.b = this.#qBase;
      }
      return 'ok';
    }
    if (this.#enc !== null) return 'ok';
    if (len >= 5 && buf.toString('latin1', 0, 5) === '<?xml') {
      const head = buf.toString('latin1', 0, Math.min(len, 1024));
      const end = head.indexOf('?>');
      if (end < 0 && len < 1024 && !final) return 'wait';
      const m = /encoding\s*=\s*["']([^"']+)["']/.exec(end < 0 ? head : head.slice(0, end));
      if (m) {
        const name = m[1].toLowerCase();
        if (name === 'us-ascii' || name === 'ascii') this.#enc = 'utf-8';
        else if (name === 'iso_8859-1' || name === 'l1' || name === 'iso8859-1') this.#enc = 'iso-8859-1';
        else {
          try {
            this.#enc = normalizeEncoding(name);
          } catch {
            this.#fail(`unsupported encoding '${m[1]}' declared (supported: utf-8, iso-8859-1, windows-1252)`);
          }
        }
      }
    }
    return 'ok';
  }

  /** The whole input is rejected (unsupported encoding): one reject at the end. */
  #fail(reason: string): void {
    this.#failed = reason;
    this.#failedAt = this.#qBase;
  }

  #finishFailed(): void {
    const end = this.#qBase + this.#q.len;
    this.#q.consume(this.#q.len);
    if (this.#failedReported) return;
    this.#failedReported = true;
    this.#out.push({
      error: {
        stage: 'decode',
        reason: this.#failed!,
        file: this.#file,
        line: this.#cur.line,
        column: 1,
        offset: this.#failedAt,
      },
      raw: '',
      line: this.#cur.line,
      offset: this.#failedAt,
      end,
      endLine: this.#cur.line,
    });
    this.#snapshot = { encoding: this.#enc ?? 'utf-8', ancestors: [], failed: true };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Positions

  /** Position of absolute char `c` (≥ the cursor), from the cursor, without moving it. */
  #posAt(c: number, from: Pos = this.#cur): Pos {
    const w = this.#win;
    const a = from.c - this.#winBase;
    const z = c - this.#winBase;
    let line = from.line;
    let col = from.col;
    for (let i = w.indexOf('\n', a); i >= 0 && i < z; i = w.indexOf('\n', i + 1)) {
      line++;
      col = -(i + 1 - a);
    }
    col += z - a;
    const n = z - a;
    const b = from.b + (this.#enc !== 'utf-8' ? n : n < 24 ? utf8Length(w, a, z) : Buffer.byteLength(w.slice(a, z)));
    return { c, b, line, col };
  }

  /** Position of absolute char `c`, measured from `from` or from the cursor when that is closer (and kept). */
  #measure(c: number, from: Pos): Pos {
    const base = this.#cur.c > from.c && this.#cur.c <= c ? this.#cur : from;
    return this.#posAt(Math.max(c, base.c), base);
  }

  /** 1-based column of a position, unless it lies on the resume line whose start column is unknown. */
  #colAt(p: Pos): number | undefined {
    return this.#colKnown || p.line !== this.#startLine ? p.col + 1 : undefined;
  }

  #advance(c: number): Pos {
    if (c > this.#cur.c) this.#cur = this.#posAt(c);
    return this.#cur;
  }

  /** Absolute char of the parser's current position. */
  #abs(): number {
    return this.#origin + Math.max(0, this.#p.position - this.#prefixLen);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Parsing

  /** A fresh parser whose real input starts at absolute char `origin`, inside the given ancestor elements. */
  #session(origin: number, ancestors: string[]): void {
    const p = new SaxesParser({ position: true });
    this.#p = p;
    this.#origin = origin;
    this.#names = [];
    this.#match = 0;
    this.#rec = null;
    this.#nodes = [];
    p.on('error', (err) => {
      throw new XmlStop(err.message.replace(/^\d+:\d+: /, ''), this.#abs());
    });
    p.on('opentagstart', (tag) => {
      this.#pendingLt = this.#abs() - tag.name.length - 2;
    });
    p.on('opentag', (tag) => this.#open(tag as SaxesTagPlain));
    p.on('closetag', (tag) => this.#close(tag as SaxesTagPlain));
    p.on('text', (t) => this.#text(t));
    p.on('cdata', (t) => this.#text(t));
    const prefix = ancestors.map((n) => `<${n}>`).join('');
    this.#prefixLen = prefix.length;
    if (prefix) p.write(prefix);
  }

  #feed(text: string): void {
    this.#win += text;
    let input = text;
    for (;;) {
      if (this.#seek) {
        const r = this.#resync();
        if (r < 0) break;
        input = this.#win.slice(r - this.#winBase);
      }
      try {
        this.#p.write(input);
        break;
      } catch (e) {
        if (!(e instanceof XmlStop)) throw e;
        this.#stop(e);
      }
    }
    this.#trim();
  }

  #open(tag: SaxesTagPlain): void {
    const d = this.#names.length;
    this.#names.push(tag.name);
    const c = this.#c;
    if (this.#rec) {
      if (this.#recHead === null) this.#nodes.push(this.#node(tag));
      return;
    }
    if (this.#match === d && d < c.segs.length && segMatches(c.segs[d], tag.name)) {
      this.#match = d + 1;
      if (d + 1 === c.segs.length) {
        const start = this.#pendingLt;
        if (start < this.#origin) return; // a synthetic ancestor cannot be a record
        this.#rec = this.#advance(start);
        this.#recDepth = d;
        this.#recHead = null;
        this.#nodes = [this.#node(tag)];
        this.#ancestors = this.#names.slice(0, d);
      }
    }
  }

  #node(tag: SaxesTagPlain): Node {
    const obj: Record<string, unknown> = {};
    let attrs = false;
    const keep = this.#c.keepPrefixes;
    const a = tag.attributes;
    for (const name in a) {
      if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
      // '@…' can never be __proto__.
      obj[`@${keep ? name : localName(name)}`] = a[name];
      attrs = true;
    }
    return { obj, text: '', children: false, attrs, key: keep ? tag.name : localName(tag.name) };
  }

  #text(t: string): void {
    if (this.#rec && this.#recHead === null) this.#nodes[this.#nodes.length - 1].text += t;
  }

  #close(tag: SaxesTagPlain): void {
    const d = this.#names.length - 1;
    this.#names.pop();
    if (!this.#rec) {
      if (this.#match === d + 1) this.#match = d;
      return;
    }
    if (d > this.#recDepth) {
      if (this.#recHead === null) {
        const node = this.#nodes.pop()!;
        const parent = this.#nodes[this.#nodes.length - 1];
        parent.children = true;
        const v = node.children || node.attrs ? this.#finish(node) : node.text;
        const key = node.key;
        const po = parent.obj;
        // An own property only: po['__proto__'] would read the prototype.
        const cur = key === '__proto__' ? Object.getOwnPropertyDescriptor(po, key)?.value : po[key];
        const always = this.#c.alwaysArray;
        if (cur === undefined) {
          const value = always.size > 0 && always.has(key) ? [v] : v;
          if (key === '__proto__') setProp(po, key, value);
          else po[key] = value;
        } else if (Array.isArray(cur)) cur.push(v);
        else setProp(po, key, [cur, v]);
      }
      return;
    }
    // The record element closed. saxes pops (and reports) the open element before it checks the close tag's name,
    // so make sure this really is its end tag and not a stray `</Other>`.
    const endC = this.#abs();
    if (!tag.isSelfClosing) {
      const z = endC - this.#winBase;
      const lt = this.#win.lastIndexOf('<', z - 1);
      const m = lt < 0 ? null : /^<\/([^\s>]+)\s*>$/.exec(this.#win.slice(lt, z));
      if (m && m[1] !== tag.name) throw new XmlStop('unexpected close tag.', endC);
    }
    this.#match = d;
    const start = this.#rec;
    this.#rec = null;
    const end = this.#advance(endC);
    this.#lastSafe = endC;
    this.#emitRecord(start, end);
  }

  #finish(node: Node): Record<string, unknown> {
    if (node.text.trim() !== '' || (!node.children && !node.attrs)) setProp(node.obj, '#text', node.text);
    return node.obj;
  }

  #emitRecord(start: Pos, end: Pos): void {
    const file = this.#file;
    const c = this.#c;
    const base = { line: start.line, offset: start.b, end: end.b, endLine: end.line };
    if (this.#recHead !== null || end.b - start.b > c.max) {
      const raw =
        this.#recHead ?? this.#win.slice(start.c - this.#winBase, Math.min(end.c, start.c + c.max) - this.#winBase);
      this.#recHead = null;
      this.#out.push({
        error: {
          stage: 'decode',
          reason: `record is longer than maxRecordBytes (${bytesText(c.max)})`,
          file,
          line: start.line,
          column: this.#colAt(start),
          offset: start.b,
        },
        raw,
        ...base,
      });
    } else {
      const value = this.#finish(this.#nodes[0]);
      this.#out.push({ value, raw: this.#win.slice(start.c - this.#winBase, end.c - this.#winBase), ...base });
    }
    this.#nodes = [];
    this.#snapshot = { encoding: this.#enc ?? 'utf-8', ancestors: this.#ancestors, at: end.b, col: end.col };
    this.#callSnaps.push(this.#snapshot);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Errors and resynchronisation

  /** The parser stopped on an error: reject from the record start (or the last safe point) to the next record. */
  #stop(e: XmlStop): void {
    const from = this.#rec ?? this.#advance(Math.max(this.#lastSafe, this.#cur.c));
    const at = Math.max(from.c, Math.min(e.at, this.#winBase + this.#win.length));
    let pos = this.#measure(at, from);
    let reason = `XML not well-formed: ${e.message}`;
    // An invalid UTF-8 byte (replaced by U+001A) explains a "disallowed character" better.
    if (this.#invalid.size) {
      const sub = this.#win.indexOf('\u001a', Math.max(0, Math.max(from.c, this.#cur.c) - this.#winBase));
      // Only a byte the parser has consumed (before the error position) counts: chunking must not matter.
      if (sub >= 0 && sub + this.#winBase < at) {
        const q = this.#measure(sub + this.#winBase, from);
        const v = this.#invalid.get(q.b);
        if (v !== undefined) {
          pos = q;
          reason = `invalid UTF-8 byte ${describeByte(v)}`;
        }
      }
    }
    const head = this.#rec && this.#recHead !== null ? this.#recHead : null;
    this.#seek = {
      from,
      head,
      error: { stage: 'decode', reason, file: this.#file, line: pos.line, column: this.#colAt(pos), offset: pos.b },
      scanFrom: from.c + 1,
    };
    this.#rec = null;
    this.#recHead = null;
    this.#nodes = [];
  }

  /** Look for the next record start tag; on success emit the damaged span and restart the parser there. */
  #resync(): number {
    const s = this.#seek!;
    const re = this.#c.startTag;
    re.lastIndex = Math.max(0, s.scanFrom - this.#winBase);
    const m = re.exec(this.#win);
    if (!m) {
      s.scanFrom = Math.max(s.scanFrom, this.#winBase + this.#win.length - this.#c.recordName.length - 64);
      return -1;
    }
    const r = this.#winBase + m.index;
    const to = this.#measure(r, s.from);
    this.#emitSpan(to);
    if (to.c >= this.#cur.c) this.#cur = to;
    this.#lastSafe = r;
    this.#session(r, this.#ancestors);
    return r;
  }

  #emitSpan(to: Pos): void {
    const s = this.#seek!;
    this.#seek = null;
    const max = this.#c.max;
    const a = s.from.c - this.#winBase;
    // The first maxRecordBytes chars of [from, to), whether or not the window still holds them.
    const raw =
      s.head !== null ? s.head.slice(0, to.c - s.from.c) : this.#win.slice(a, Math.min(to.c - this.#winBase, a + max));
    this.#out.push({ error: s.error, raw, line: s.from.line, offset: s.from.b, end: to.b, endLine: to.line });
    this.#snapshot = { encoding: this.#enc ?? 'utf-8', ancestors: this.#ancestors, at: to.b, col: to.col };
    this.#callSnaps.push(this.#snapshot);
  }

  // -------------------------------------------------------------------------------------------------------------

  /** Drop decoded text that is no longer needed: memory holds one record (or a few KiB between records). */
  #trim(): void {
    const winEnd = this.#winBase + this.#win.length;
    const max = this.#c.max;
    let keep: number;
    if (this.#seek) {
      const s = this.#seek;
      if (s.head === null && winEnd - s.from.c > max)
        s.head = this.#win.slice(s.from.c - this.#winBase, s.from.c - this.#winBase + max);
      keep = s.head === null ? s.from.c : Math.max(s.from.c, winEnd - TRAIL);
      if (s.head !== null) this.#advance(keep);
    } else if (this.#rec) {
      if (this.#recHead === null && winEnd - this.#rec.c > max) {
        this.#recHead = this.#win.slice(this.#rec.c - this.#winBase, this.#rec.c - this.#winBase + max);
        this.#nodes = [];
      }
      keep = this.#recHead === null ? this.#rec.c : Math.max(this.#rec.c, winEnd - TRAIL);
      if (this.#recHead !== null) this.#advance(keep);
    } else {
      keep = Math.max(this.#winBase, winEnd - TRAIL);
      this.#advance(keep);
      this.#lastSafe = Math.max(this.#lastSafe, keep);
    }
    if (keep > this.#cur.c) keep = this.#cur.c;
    if (this.#invalid.size) for (const b of this.#invalid.keys()) if (b < this.#cur.b) this.#invalid.delete(b);
    if (keep > this.#winBase) {
      this.#win = this.#win.slice(keep - this.#winBase);
      this.#winBase = keep;
    }
  }
}

export class XmlFormat implements BoundFormat {
  readonly name = 'xml';
  readonly #c: XmlConfig;

  constructor(o: XmlOptions) {
    this.#c = configure(o);
  }

  streamDecoder(start: StreamStart): StreamDecoder {
    return new XmlDecoder(this.#c, start);
  }

  decodeMessage(payload: Uint8Array | string, ref: string): DecodedRecord[] {
    const d = new XmlDecoder(
      this.#c,
      { file: ref, offset: 0, line: 1 },
      typeof payload === 'string' ? 'utf-8' : undefined,
    );
    const out = d.push(payloadBytes(payload));
    for (const r of d.end()) out.push(r);
    return out;
  }
}

export const xmlFormat: FormatSpec = {
  name: 'xml',
  summary: 'XML, streamed with saxes; recordPath (/Orders/Order) selects the record elements.',
  options: xmlOptionsSchema,
  bind(options) {
    return new XmlFormat(options as unknown as XmlOptions);
  },
};
