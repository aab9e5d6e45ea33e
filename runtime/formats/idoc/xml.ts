/**
 * IDoc-XML: `<WMMBID02><IDOC BEGIN="1"><EDI_DC40 SEGMENT="1">…</EDI_DC40><E1MBXYH SEGMENT="1">…</E1MBXYH></IDOC>…`.
 *
 * Streaming in two layers: a small byte-level scanner follows the markup (tags, comments, CDATA, processing
 * instructions) to find each `<IDOC>` element and its exact byte range, holding only the current one; saxes then
 * parses that element into the tree. One decoded record = one IDOC element. Resuming at a record's `end` only needs the
 * root element's name (kept in the resume state). A malformed IDOC element is rejected with its offset; the scanner
 * carries on with the next one.
 */
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import type { DecodedRecord, RecordError, StreamDecoder, StreamStart } from '../../contracts/spi.ts';
import { ByteQueue, bomLength, bytesText, decodeBytes, describeByte, type Encoding, invalidUtf8Positions, normalizeEncoding, utf8Length, validUtf8 } from '../common.ts';
import { normalizeValue, type SegmentCatalog, xmlNameToSap } from './layout.ts';
import { type IdocTree, SAP_NAME, type SegmentNode, type UnknownSegments } from './tree.ts';

export interface XmlOptions {
  catalog: SegmentCatalog;
  encoding: Encoding;
  unknownSegments: UnknownSegments;
  maxIdocBytes: number;
}

export interface XmlResume {
  syntax: 'xml';
  /** Name of the open root element (`WMMBID02`), null between documents. */
  root: string | null;
  /** Encoding from the XML declaration, when it named one. */
  encoding?: Encoding;
}

const LT = 0x3c;
const GT = 0x3e;

/** Element depth bookkeeping while scanning bytes. */
export class XmlIdocDecoder implements StreamDecoder {
  readonly #o: XmlOptions;
  readonly #file: string;
  readonly #q = new ByteQueue();
  #base: number;
  #scan = 0;
  #bomChecked: boolean;
  #encoding: Encoding;
  #declEncoding: Encoding | undefined;
  /** Open elements above the current position (names), outside an IDOC. */
  #root: string | null;
  #depth: number;
  /** The IDOC element being collected: queue index of its `<`, and its depth counter. */
  #idoc: { start: number; depth: number; oversized: boolean; offset: number } | undefined;
  /** A stray element at depth 1 that is not an IDOC: skipped, reported once closed. */
  #stray: { start: number; name: string; depth: number; offset: number } | undefined;
  #out: DecodedRecord[] = [];

  constructor(o: XmlOptions, start: StreamStart) {
    this.#o = o;
    this.#file = start.file;
    this.#base = start.offset;
    const r = start.resume as XmlResume | undefined;
    this.#encoding = r?.encoding ?? o.encoding;
    this.#declEncoding = r?.encoding;
    this.#root = r ? r.root : start.offset > 0 ? '?' : null;
    this.#depth = this.#root === null ? 0 : 1;
    this.#bomChecked = start.offset !== 0;
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    this.#q.append(chunk);
    this.#run(false);
    return this.#take();
  }

  end(): DecodedRecord[] {
    this.#run(true);
    if (this.#idoc) {
      const s = this.#idoc.start;
      this.#emitError(s, this.#q.len, this.#idoc.offset, 'truncated: the <IDOC> element is not closed at the end of the input');
      this.#idoc = undefined;
    } else if (this.#stray) {
      this.#emitError(this.#stray.start, this.#q.len, this.#stray.offset, `unexpected element <${this.#stray.name}> (not closed) where <IDOC> was expected`);
      this.#stray = undefined;
    }
    this.#compact(this.#q.len);
    return this.#take();
  }

  resumeState(): XmlResume {
    const r: XmlResume = { syntax: 'xml', root: this.#depth > 0 ? this.#root : null };
    if (this.#declEncoding) r.encoding = this.#declEncoding;
    return r;
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
      this.#scan = n;
    }
    for (;;) {
      const lt = q.indexOf(LT, this.#scan);
      if (lt < 0) {
        this.#scan = q.len;
        break;
      }
      const end = this.#markupEnd(lt);
      if (end < 0) {
        this.#scan = lt;
        if (final) {
          this.#scan = q.len;
        }
        break;
      }
      this.#scan = end;
      this.#markup(lt, end);
    }
    this.#compact(this.#idoc || this.#stray ? Math.min(this.#idoc?.start ?? Infinity, this.#stray?.start ?? Infinity) : this.#scan);
    if (this.#idoc && !this.#idoc.oversized && this.#scan - this.#idoc.start > this.#o.maxIdocBytes) this.#idoc.oversized = true;
  }

  /** Queue index just past the markup starting at `<` index i, or -1 when it is not complete yet. */
  #markupEnd(i: number): number {
    const q = this.#q;
    const b = q.buf;
    const n = q.len;
    if (i + 1 >= n) return -1;
    const c = b[i + 1];
    if (c === 0x21 /* ! */) {
      if (this.#startsWith(i, '<!--')) return this.#find(i + 4, '-->');
      if (this.#startsWith(i, '<![CDATA[')) return this.#find(i + 9, ']]>');
      if (i + 9 > n) return -1;
      // <!DOCTYPE …> with an optional [internal subset]
      let k = i + 2;
      let bracket = 0;
      let quote = 0;
      for (; k < n; k++) {
        const x = b[k];
        if (quote) {
          if (x === quote) quote = 0;
        } else if (x === 0x22 || x === 0x27) quote = x;
        else if (x === 0x5b) bracket++;
        else if (x === 0x5d) bracket--;
        else if (x === GT && bracket <= 0) return k + 1;
      }
      return -1;
    }
    if (c === 0x3f /* ? */) return this.#find(i + 2, '?>');
    // start or end tag: `>` outside attribute quotes
    let quote = 0;
    for (let k = i + 1; k < n; k++) {
      const x = b[k];
      if (quote) {
        if (x === quote) quote = 0;
      } else if (x === 0x22 || x === 0x27) quote = x;
      else if (x === GT) return k + 1;
    }
    return -1;
  }

  #startsWith(i: number, s: string): boolean {
    const q = this.#q;
    if (i + s.length > q.len) return false;
    for (let k = 0; k < s.length; k++) if (q.buf[i + k] !== s.charCodeAt(k)) return false;
    return true;
  }

  #find(from: number, s: string): number {
    const q = this.#q;
    const i = q.buf.subarray(0, q.len).indexOf(s, from, 'latin1');
    return i < 0 ? -1 : i + s.length;
  }

  /** One complete piece of markup [s, e). */
  #markup(s: number, e: number): void {
    const b = this.#q.buf;
    const c = b[s + 1];
    if (c === 0x3f) {
      // <?xml version="1.0" encoding="…"?>: the declaration names the encoding
      const text = b.toString('latin1', s, e);
      const m = /^<\?xml\s[^>]*encoding\s*=\s*["']([^"']+)["']/.exec(text);
      if (m) {
        try {
          this.#encoding = normalizeEncoding(m[1]);
          this.#declEncoding = this.#encoding;
        } catch {
          // unknown encoding: keep the configured one; invalid bytes reject their IDoc
        }
      }
      return;
    }
    if (c === 0x21) return; // comment, CDATA, DOCTYPE: nothing to track
    const closing = c === 0x2f;
    const selfClosing = !closing && b[e - 2] === 0x2f;
    let k = s + (closing ? 2 : 1);
    const nameStart = k;
    while (k < e - 1 && b[k] !== 0x20 && b[k] !== 0x09 && b[k] !== 0x0a && b[k] !== 0x0d && b[k] !== 0x2f && b[k] !== GT) k++;
    const name = b.toString('latin1', nameStart, k);
    if (closing) {
      this.#depth = Math.max(0, this.#depth - 1);
      if (this.#idoc && this.#depth === this.#idoc.depth) {
        const idoc = this.#idoc;
        this.#idoc = undefined;
        this.#emitIdoc(idoc.start, e, idoc.offset, idoc.oversized);
      } else if (this.#stray && this.#depth === this.#stray.depth) {
        const st = this.#stray;
        this.#stray = undefined;
        this.#emitError(st.start, e, st.offset, `unexpected element <${st.name}> where <IDOC> was expected`);
      }
      if (this.#depth === 0) this.#root = null;
      return;
    }
    if (this.#idoc || this.#stray) {
      if (!selfClosing) this.#depth++;
      return;
    }
    if (this.#depth === 0 && name !== 'IDOC') {
      this.#root = name;
      if (!selfClosing) this.#depth = 1;
      return;
    }
    if (name === 'IDOC') {
      if (selfClosing) {
        this.#emitError(s, e, this.#base + s, 'empty <IDOC/> element');
        return;
      }
      this.#idoc = { start: s, depth: this.#depth, oversized: false, offset: this.#base + s };
      this.#depth++;
      return;
    }
    if (selfClosing) {
      this.#emitError(s, e, this.#base + s, `unexpected element <${name}/> where <IDOC> was expected`);
      return;
    }
    this.#stray = { start: s, name, depth: this.#depth, offset: this.#base + s };
    this.#depth++;
  }

  #emitError(s: number, e: number, offset: number, reason: string, at = offset): void {
    const raw = decodeBytes(this.#q.buf, s, Math.min(e, s + 64 * 1024), this.#encoding);
    const error: RecordError = { stage: 'decode', reason, file: this.#file, offset: at };
    this.#out.push({ error, raw, offset, end: this.#base + e });
  }

  #emitIdoc(s: number, e: number, offset: number, oversized: boolean): void {
    const q = this.#q;
    const end = this.#base + e;
    if (oversized || e - s > this.#o.maxIdocBytes) {
      this.#emitError(s, e, offset, `IDoc is larger than maxIdocBytes (${bytesText(this.#o.maxIdocBytes)})`);
      return;
    }
    if (this.#encoding === 'utf-8' && !validUtf8(q.buf, s, e)) {
      const bad = invalidUtf8Positions(q.buf, s, e)[0] ?? s;
      this.#emitError(s, e, offset, `invalid UTF-8 byte ${describeByte(q.buf[bad])}`, this.#base + bad);
      return;
    }
    const text = decodeBytes(q.buf, s, e, this.#encoding);
    const r = parseIdocElement(text, this.#o.catalog, this.#o.unknownSegments);
    if ('tree' in r) {
      this.#out.push({ value: r.tree, raw: text, offset, end });
      return;
    }
    const at = offset + (this.#encoding === 'utf-8' ? utf8Length(text, 0, Math.min(r.at, text.length)) : r.at);
    const error: RecordError = { stage: 'decode', reason: r.reason, file: this.#file, offset: at };
    if (r.field) error.field = r.field;
    this.#out.push({ error, raw: text, offset, end });
  }

  #compact(keep: number): void {
    if (keep <= 0) return;
    this.#q.consume(keep);
    this.#base += keep;
    this.#scan -= keep;
    if (this.#idoc) this.#idoc.start -= keep;
    if (this.#stray) this.#stray.start -= keep;
  }
}

interface Open {
  name: string;
  segment: boolean;
  text: string;
  /** Closed children: fields (name → text) and segments (in order). */
  fields: Array<[string, string]>;
  children: Array<[string, SegmentNode]>;
}

class Reject extends Error {
  readonly field?: string;
  constructor(message: string, field?: string) {
    super(message);
    this.field = field;
  }
}

/**
 * One `<IDOC>…</IDOC>` element → tree. Elements with a SEGMENT attribute, with child elements, or declared as segments
 * are segments; other leaf elements are fields. Returns the tree, or the reason and the character index of the problem.
 */
export function parseIdocElement(
  text: string,
  catalog: SegmentCatalog,
  unknown: UnknownSegments,
): { tree: IdocTree } | { reason: string; at: number; field?: string } {
  const parser = new SaxesParser({ xmlns: false, position: true });
  const stack: Open[] = [];
  let tree: IdocTree | undefined;
  let control: Record<string, string> | undefined;
  const top: Array<[string, SegmentNode]> = [];
  parser.on('opentag', (tag: SaxesTagPlain) => {
    const name = xmlNameToSap(tag.name);
    if (stack.length === 0) {
      if (name !== 'IDOC') throw new Reject(`expected <IDOC>, found <${tag.name}>`);
      stack.push({ name, segment: true, text: '', fields: [], children: [] });
      return;
    }
    if (!SAP_NAME.test(name)) throw new Reject(`<${tag.name}> is not a valid SAP segment or field name`);
    const parent = stack[stack.length - 1];
    if (!parent.segment) parent.segment = true; // a field with child elements is a segment after all
    stack.push({ name, segment: tag.attributes.SEGMENT !== undefined || catalog.get(name) !== undefined, text: '', fields: [], children: [] });
  });
  parser.on('text', (t: string) => {
    if (stack.length) stack[stack.length - 1].text += t;
  });
  parser.on('cdata', (t: string) => {
    if (stack.length) stack[stack.length - 1].text += t;
  });
  parser.on('closetag', () => {
    const el = stack.pop()!;
    if (stack.length === 0) {
      if (!control) throw new Reject('<IDOC> has no EDI_DC40 control record', 'EDI_DC40');
      const t = { EDI_DC40: control } as IdocTree;
      for (const [name, node] of top) {
        const list = t[name] as SegmentNode[] | undefined;
        if (name === 'EDI_DC40') throw new Reject('<IDOC> has two EDI_DC40 control records', 'EDI_DC40');
        if (list) list.push(node);
        else (t as Record<string, unknown>)[name] = [node];
      }
      tree = t;
      return;
    }
    const parent = stack[stack.length - 1];
    if (stack.length === 1 && el.name === 'EDI_DC40') {
      if (control) throw new Reject('<IDOC> has two EDI_DC40 control records', 'EDI_DC40');
      control = {};
      for (const [k, v] of el.fields) {
        const nv = normalizeValue(v, 'char');
        if (nv !== undefined) control[k] = nv;
      }
      return;
    }
    const isSegment = el.segment || el.fields.length > 0 || el.children.length > 0 || stack.length === 1;
    if (!isSegment) {
      parent.fields.push([el.name, el.text]);
      return;
    }
    const layout = catalog.get(el.name);
    if (!layout && unknown === 'reject')
      throw new Reject(`segment ${el.name} has no layout (declare it in a segments YAML file, or set unknownSegments: keep)`, el.name);
    const node: SegmentNode = {};
    for (const [k, v] of el.fields) {
      const nv = normalizeValue(v, layout?.byName.get(k)?.type ?? 'char');
      if (nv !== undefined) node[k] = nv;
    }
    for (const [k, child] of el.children) {
      const list = node[k];
      if (list === undefined) node[k] = [child];
      else if (typeof list === 'string') throw new Reject(`segment ${k} has the name of a field of its parent ${el.name}`, k);
      else list.push(child);
    }
    if (stack.length === 1) top.push([el.name, node]);
    else parent.children.push([el.name, node]);
  });
  try {
    parser.write(text).close();
  } catch (err) {
    const reason = err instanceof Reject ? err.message : `malformed XML: ${(err as Error).message.replace(/^undefined:/, '')}`;
    const r: { reason: string; at: number; field?: string } = { reason, at: Math.max(0, parser.position - 1) };
    if (err instanceof Reject && err.field) r.field = err.field;
    return r;
  }
  if (!tree) return { reason: 'no <IDOC> element', at: 0 };
  return { tree };
}
