/**
 * Writing IDocs from the tree shape the decoder produces: flat (EDI_DC40 + EDI_DD40 records) and IDoc-XML. Used by
 * the `sap-posting` sink's `idoc-xml` transport (MBGMCR03 files for an SAP file port), by tests and benchmarks.
 * SEGNUM/PSGNUM/HLEVEL are generated from the nesting; fields are written in layout order.
 */
import { CONTROL_FIELDS, CONTROL_LENGTH, DATA_LENGTH, SDATA_LENGTH, type SegmentCatalog, sapNameToXml } from './layout.ts';
import type { IdocTree, SegmentNode } from './tree.ts';

interface Seg {
  name: string;
  node: SegmentNode;
  segnum: number;
  psgnum: number;
  level: number;
}

/** Segments in document order with their numbers. */
function walk(tree: IdocTree): Seg[] {
  const out: Seg[] = [];
  const visit = (container: Record<string, unknown>, parent: number, level: number) => {
    for (const [name, v] of Object.entries(container)) {
      if (!Array.isArray(v)) continue;
      for (const node of v as SegmentNode[]) {
        const seg: Seg = { name, node, segnum: out.length + 1, psgnum: parent, level };
        out.push(seg);
        visit(node, seg.segnum, level + 1);
      }
    }
  };
  const { EDI_DC40: _c, ...segments } = tree;
  visit(segments, 0, 1);
  return out;
}

function place(line: string[], offset: number, length: number, value: string, what: string): void {
  if (value.length > length) throw new Error(`${what}: '${value}' is longer than ${length} characters`);
  for (let i = 0; i < value.length; i++) line[offset + i] = value[i];
}

/** The 524-character control record. */
export function controlRecord(control: Record<string, string>): string {
  const line = new Array<string>(CONTROL_LENGTH).fill(' ');
  const c = { TABNAM: 'EDI_DC40', ...control };
  for (const f of CONTROL_FIELDS) {
    const v = c[f.name as keyof typeof c];
    if (v !== undefined) place(line, f.offset, f.length, v, `EDI_DC40-${f.name}`);
  }
  for (const k of Object.keys(c)) if (!CONTROL_FIELDS.some((f) => f.name === k)) throw new Error(`EDI_DC40 has no field ${k}`);
  return line.join('');
}

/** A flat IDoc: control record and data records, each followed by `eol` ('' = contiguous). */
export function toFlat(tree: IdocTree, catalog: SegmentCatalog, eol = ''): string {
  const control = tree.EDI_DC40;
  let s = controlRecord(control) + eol;
  const mandt = (control.MANDT ?? '').padEnd(3);
  const docnum = (control.DOCNUM ?? '').padEnd(16);
  for (const seg of walk(tree)) {
    const sdata = new Array<string>(SDATA_LENGTH).fill(' ');
    const layout = catalog.get(seg.name);
    for (const [k, v] of Object.entries(seg.node)) {
      if (typeof v !== 'string') continue;
      if (!layout || layout.fields.length === 0) {
        if (k !== 'SDATA') throw new Error(`segment ${seg.name} has no layout; it can only carry SDATA`);
        place(sdata, 0, SDATA_LENGTH, v, `${seg.name}-SDATA`);
        continue;
      }
      const f = layout.byName.get(k);
      if (!f) throw new Error(`segment ${seg.name} has no field ${k} (layout ${layout.source})`);
      place(sdata, f.offset, f.length, v, `${seg.name}-${k}`);
    }
    const rec =
      seg.name.padEnd(30) +
      mandt +
      docnum +
      String(seg.segnum).padStart(6, '0') +
      String(seg.psgnum).padStart(6, '0') +
      String(seg.level).padStart(2, '0') +
      sdata.join('');
    if (rec.length !== DATA_LENGTH) throw new Error(`segment ${seg.name}: record is ${rec.length} characters`);
    s += rec + eol;
  }
  return s;
}

const XML_ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const escapeXml = (v: string) => v.replace(/[&<>"']/g, (c) => XML_ESC[c]);

function xmlSegment(name: string, node: SegmentNode, catalog: SegmentCatalog, indent: string): string {
  const tag = sapNameToXml(name);
  let s = `${indent}<${tag} SEGMENT="1">\n`;
  const layout = catalog.get(name);
  const fields = Object.entries(node).filter((e): e is [string, string] => typeof e[1] === 'string');
  if (layout && layout.fields.length > 0) {
    const order = (k: string) => layout.fields.indexOf(layout.byName.get(k)!);
    for (const [k] of fields) if (!layout.byName.has(k)) throw new Error(`segment ${name} has no field ${k} (layout ${layout.source})`);
    fields.sort((a, b) => order(a[0]) - order(b[0]));
  }
  for (const [k, v] of fields) s += `${indent}  <${sapNameToXml(k)}>${escapeXml(v)}</${sapNameToXml(k)}>\n`;
  for (const [k, v] of Object.entries(node)) {
    if (!Array.isArray(v)) continue;
    for (const child of v) s += xmlSegment(k, child, catalog, `${indent}  `);
  }
  return `${s}${indent}</${tag}>\n`;
}

/** One `<IDOC BEGIN="1">` element. */
export function idocElement(tree: IdocTree, catalog: SegmentCatalog, indent = '  '): string {
  const control = { TABNAM: 'EDI_DC40', ...tree.EDI_DC40 };
  let s = `${indent}<IDOC BEGIN="1">\n${indent}  <EDI_DC40 SEGMENT="1">\n`;
  for (const f of CONTROL_FIELDS) {
    const v = control[f.name as keyof typeof control];
    if (v !== undefined && v !== '') s += `${indent}    <${f.name}>${escapeXml(v)}</${f.name}>\n`;
  }
  s += `${indent}  </EDI_DC40>\n`;
  const { EDI_DC40: _c, ...segments } = tree;
  for (const [name, list] of Object.entries(segments)) for (const node of list as SegmentNode[]) s += xmlSegment(name, node, catalog, `${indent}  `);
  return `${s}${indent}</IDOC>\n`;
}

/** An IDoc-XML document holding one or more IDocs; the root element is CIMTYP (extension) or IDOCTYP. */
export function toXml(trees: IdocTree | IdocTree[], catalog: SegmentCatalog): string {
  const list = Array.isArray(trees) ? trees : [trees];
  if (list.length === 0) throw new Error('no IDoc to write');
  const c = list[0].EDI_DC40;
  const root = sapNameToXml(c.CIMTYP || c.IDOCTYP || 'IDOC');
  let s = `<?xml version="1.0" encoding="UTF-8"?>\n<${root}>\n`;
  for (const t of list) s += idocElement(t, catalog);
  return `${s}</${root}>\n`;
}
