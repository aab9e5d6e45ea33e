/**
 * The decoded IDoc tree, the same whether the IDoc came flat or as XML:
 *
 *   {
 *     EDI_DC40: { TABNAM: 'EDI_DC40', DOCNUM: '0000000000004711', IDOCTYP: 'WMMBID02', MESTYP: 'WMMBXY', ... },
 *     E1MBXYH: [ { BUDAT: '20261121', XBLNR: 'R-17', E1MBXYI: [ { BWART: '101', MATNR: '...', ... }, ... ] } ],
 *   }
 *
 * Every segment type is a list (even when it occurs once), under its parent, in document order; fields are trimmed
 * text and empty fields are left out. Names are SAP names (`/SPE/E1BP2017_GM_REF_EWM`, not the XML spelling).
 */
import type { RecordError } from '../../contracts/spi.ts';
import { CONTROL_FIELDS, normalizeValue, type SegmentCatalog, type SegmentLayout } from './layout.ts';

export type SegmentNode = { [name: string]: string | SegmentNode[] };
export type IdocTree = { EDI_DC40: Record<string, string> } & { [segment: string]: SegmentNode[] | Record<string, string> };

/** Names allowed for segments and fields (also keeps `__proto__` & co. out of the tree). */
export const SAP_NAME = /^[A-Za-z0-9_/]{1,40}$/;

export type UnknownSegments = 'keep' | 'reject';

/** The control record fields of a 524-character EDI_DC40 text (shorter text is treated as space-padded). */
export function controlFromFlat(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of CONTROL_FIELDS) {
    if (f.offset >= text.length) break;
    const v = normalizeValue(text.slice(f.offset, f.offset + f.length), 'char');
    if (v !== undefined) out[f.name] = v;
  }
  return out;
}

/**
 * Fields of one segment from its SDATA, which is `text` from index `start` (a data record: start 63), per the layout;
 * `SDATA` (trimmed) when the segment is not declared.
 */
export function fieldsFromSdata(node: SegmentNode, text: string, start: number, layout: SegmentLayout | undefined): void {
  const known = layout !== undefined && layout.fields.length > 0;
  // Most of SDATA is padding: find the last non-blank character, looking no further than the layout reaches.
  let last = known ? Math.min(text.length, start + layout.span) : text.length;
  if (start === 0) last = (last === text.length ? text : text.slice(0, last)).trimEnd().length;
  else while (last > start && text.charCodeAt(last - 1) === 32) last--;
  if (last === start) return;
  if (!known) {
    node.SDATA = text.slice(start, last);
    return;
  }
  const fields = layout.fields;
  const end = last - start;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f.offset >= end) continue;
    const v = normalizeValue(text.slice(start + f.offset, start + f.offset + f.length), f.type);
    if (v !== undefined) node[f.name] = v;
  }
}

/** digits() of an all-blank field. */
const BLANK = -2;

/** A right- or left-padded unsigned number: its value, BLANK when all spaces, -1 when not a number. */
function digits(s: string): number {
  let n = 0;
  let seen = false;
  let end = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 32) {
      if (seen) end = true;
      continue;
    }
    if (c < 48 || c > 57 || end) return -1;
    n = n * 10 + (c - 48);
    seen = true;
  }
  return seen ? n : BLANK;
}

interface Placed {
  node: SegmentNode;
  level: number;
  name: string;
}

/**
 * Builds the tree of one flat IDoc from its data records, placing each segment under its parent: PSGNUM names the
 * parent's SEGNUM (000000 = top level) and HLEVEL must be the parent's level + 1. Files that leave PSGNUM empty are
 * placed by HLEVEL (the last segment one level up), and files without either by the parent declared in the layout.
 */
export class FlatTreeBuilder {
  readonly tree: IdocTree;
  readonly #catalog: SegmentCatalog;
  readonly #unknown: UnknownSegments;
  readonly #bySegnum = new Map<number, Placed>();
  /** Last segment placed at each level (index 0 = level 1), valid up to #depth. */
  readonly #levels: Placed[] = [];
  #depth = 0;
  /** Last segment of each type (layout-declared parents). */
  readonly #lastOfType = new Map<string, Placed>();
  #running = 0;
  segments = 0;
  error: RecordError | undefined;

  constructor(control: Record<string, string>, catalog: SegmentCatalog, unknown: UnknownSegments) {
    this.tree = { EDI_DC40: control } as IdocTree;
    this.#catalog = catalog;
    this.#unknown = unknown;
  }

  /** Adds one data record; returns a problem (reason, field) or undefined. */
  add(name: string, segnumText: string, psgnumText: string, hlevelText: string, text: string, sdataStart: number): { reason: string; field?: string } | undefined {
    const layout = this.#catalog.get(name);
    if (!layout && this.#unknown === 'reject')
      return { reason: `segment ${name} has no layout (declare it in a segments YAML file, or set unknownSegments: keep)`, field: 'SEGNAM' };
    let segnum = digits(segnumText);
    const psgnum = digits(psgnumText);
    const hlevel = digits(hlevelText);
    if (segnum === -1) return { reason: `SEGNUM '${segnumText}' is not a number`, field: 'SEGNUM' };
    if (psgnum === -1) return { reason: `PSGNUM '${psgnumText}' is not a number`, field: 'PSGNUM' };
    if (hlevel === -1) return { reason: `HLEVEL '${hlevelText}' is not a number`, field: 'HLEVEL' };
    if (segnum === BLANK) segnum = this.#running + 1;
    if (this.#bySegnum.has(segnum)) return { reason: `SEGNUM ${segnumText} occurs twice`, field: 'SEGNUM' };
    this.#running = segnum;

    let parent: Placed | undefined;
    if (psgnum > 0 && psgnum !== BLANK) {
      parent = this.#bySegnum.get(psgnum);
      if (!parent) return { reason: `parent segment ${psgnumText} (PSGNUM) does not precede segment ${segnumText}`, field: 'PSGNUM' };
      if (hlevel > 0 && hlevel !== BLANK && hlevel !== parent.level + 1)
        return { reason: `HLEVEL ${hlevelText} of segment ${segnumText} does not follow its parent's level ${parent.level}`, field: 'HLEVEL' };
    } else if (hlevel > 1 && hlevel !== BLANK) {
      parent = hlevel - 1 <= this.#depth ? this.#levels[hlevel - 2] : undefined;
      if (!parent) return { reason: `HLEVEL ${hlevelText} of segment ${segnumText} has no segment at level ${hlevel - 1} before it`, field: 'HLEVEL' };
    } else if ((hlevel === 0 || hlevel === BLANK) && layout?.parent) {
      parent = this.#lastOfType.get(layout.parent);
      if (!parent) return { reason: `segment ${name} needs its parent ${layout.parent} before it`, field: 'SEGNAM' };
    }
    const level = parent ? parent.level + 1 : 1;
    const node: SegmentNode = {};
    fieldsFromSdata(node, text, sdataStart, layout);
    const container = (parent ? parent.node : this.tree) as SegmentNode;
    const list = container[name];
    if (list === undefined) container[name] = [node];
    else if (typeof list === 'string') return { reason: `segment ${name} has the name of a field of its parent`, field: 'SEGNAM' };
    else list.push(node);
    const placed: Placed = { node, level, name };
    this.#bySegnum.set(segnum, placed);
    this.#levels[level - 1] = placed;
    this.#depth = level;
    this.#lastOfType.set(name, placed);
    this.segments++;
    return undefined;
  }
}
