/**
 * IDoc record layouts: the control record EDI_DC40 and data record EDI_DD40 (fixed by SAP), and the segment field
 * layouts inside SDATA, declared in YAML (segments/*.yaml ships WMMBID02, MBGMCR03, LOISTD01, MATMAS05; users add
 * their own files and Z-segments with the format's `segments` option). See docs/idoc.md.
 *
 * Segment YAML:
 *
 *   basicType: WMMBID02                  # informational
 *   segments:
 *     E1MBXYH:
 *       description: Goods movement header
 *       fields:                          # in SDATA order; offsets follow from the lengths
 *         - BLDAT 8 date                 # compact: NAME LENGTH [TYPE]
 *         - { name: XBLNR, length: 16 }  # or a map (offset: to place a field explicitly)
 *     E1MBXYI:
 *       parent: E1MBXYH                  # structure: used when a flat file has no PSGNUM/HLEVEL
 *       fields: [...]
 *
 * Types: `char` (default), `numc` (digits, leading zeros kept), `num` (decimal text; SAP's trailing minus `12.5-`
 * becomes `-12.5`), `date` (YYYYMMDD; `00000000` counts as empty), `time` (HHMMSS). Values are trimmed and empty
 * values are left out, exactly as IDoc-XML leaves empty fields out, so a flat IDoc and its XML twin give the same tree.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

export type FieldType = 'char' | 'numc' | 'num' | 'date' | 'time';
export const FIELD_TYPES: readonly FieldType[] = ['char', 'numc', 'num', 'date', 'time'];

export interface FieldLayout {
  name: string;
  /** 0-based character offset inside SDATA (or inside the control record). */
  offset: number;
  length: number;
  type: FieldType;
  description?: string;
}

export interface SegmentLayout {
  name: string;
  description?: string;
  /** Declared parent segment type (structure); null = top level; undefined = not declared. */
  parent?: string | null;
  fields: FieldLayout[];
  /** Field name → field, for XML (fields arrive by name). */
  byName: Map<string, FieldLayout>;
  /** Characters of SDATA the fields reach (the end of the last one). */
  span: number;
  /** Where the layout was declared (file), for messages. */
  source: string;
}

/** The SDATA capacity of an EDI_DD40 data record. */
export const SDATA_LENGTH = 1000;
export const CONTROL_LENGTH = 524;
export const DATA_LENGTH = 1063;

/** EDI_DC40, offsets 0-based (docs/idoc.md; SAP reference §1.1). */
export const CONTROL_FIELDS: readonly FieldLayout[] = (
  [
    ['TABNAM', 0, 10],
    ['MANDT', 10, 3],
    ['DOCNUM', 13, 16],
    ['DOCREL', 29, 4],
    ['STATUS', 33, 2],
    ['DIRECT', 35, 1],
    ['OUTMOD', 36, 1],
    ['EXPRSS', 37, 1],
    ['TEST', 38, 1],
    ['IDOCTYP', 39, 30],
    ['CIMTYP', 69, 30],
    ['MESTYP', 99, 30],
    ['MESCOD', 129, 3],
    ['MESFCT', 132, 3],
    ['STD', 135, 1],
    ['STDVRS', 136, 6],
    ['STDMES', 142, 6],
    ['SNDPOR', 148, 10],
    ['SNDPRT', 158, 2],
    ['SNDPFC', 160, 2],
    ['SNDPRN', 162, 10],
    ['SNDSAD', 172, 21],
    ['SNDLAD', 193, 70],
    ['RCVPOR', 263, 10],
    ['RCVPRT', 273, 2],
    ['RCVPFC', 275, 2],
    ['RCVPRN', 277, 10],
    ['RCVSAD', 287, 21],
    ['RCVLAD', 308, 70],
    ['CREDAT', 378, 8],
    ['CRETIM', 386, 6],
    ['REFINT', 392, 14],
    ['REFGRP', 406, 14],
    ['REFMES', 420, 14],
    ['ARCKEY', 434, 70],
    ['SERIAL', 504, 20],
  ] as const
).map(([name, offset, length]) => ({ name, offset, length, type: 'char' as FieldType }));

/** EDI_DD40 administrative part; SDATA follows at 63. */
export const DATA_FIELDS = {
  SEGNAM: [0, 30],
  MANDT: [30, 3],
  DOCNUM: [33, 16],
  SEGNUM: [49, 6],
  PSGNUM: [55, 6],
  HLEVEL: [61, 2],
  SDATA: [63, SDATA_LENGTH],
} as const;

/** A field value as it appears in the tree: trimmed; undefined when empty (left out of the tree). */
export function normalizeValue(raw: string, type: FieldType): string | undefined {
  let v = raw.trim();
  if (v === '') return undefined;
  switch (type) {
    case 'num':
      if (v.endsWith('-')) v = `-${v.slice(0, -1).trim()}`;
      else if (v.endsWith('+')) v = v.slice(0, -1).trim();
      if (v.startsWith('+')) v = v.slice(1);
      return v;
    case 'date':
      return v === '00000000' ? undefined : v;
    default:
      return v;
  }
}

/** XML element names encode `/` as `_-` (`_-SPE_-E1BP2017_GM_REF_EWM` is `/SPE/E1BP2017_GM_REF_EWM`). */
export function xmlNameToSap(name: string): string {
  return name.includes('_-') ? name.replaceAll('_-', '/') : name;
}

export function sapNameToXml(name: string): string {
  return name.includes('/') ? name.replaceAll('/', '_-') : name;
}

/** All segment layouts known to one bound format. */
export class SegmentCatalog {
  readonly #segments = new Map<string, SegmentLayout>();
  /** Files loaded, in order (shipped first). */
  readonly files: string[] = [];

  get(name: string): SegmentLayout | undefined {
    return this.#segments.get(name);
  }

  get size(): number {
    return this.#segments.size;
  }

  names(): string[] {
    return [...this.#segments.keys()];
  }

  add(layout: SegmentLayout): void {
    this.#segments.set(layout.name, layout);
  }

  /** Load a YAML file, or every *.yaml / *.yml file of a directory (sorted). Later definitions replace earlier ones. */
  load(path: string): void {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch {
      throw new Error(`segment layout file ${path} not found`);
    }
    if (st.isDirectory()) {
      const files = readdirSync(path)
        .filter((f) => ['.yaml', '.yml'].includes(extname(f)))
        .sort();
      for (const f of files) this.load(join(path, f));
      return;
    }
    this.files.push(path);
    for (const s of parseSegmentYaml(readFileSync(path, 'utf8'), path)) this.add(s);
  }
}

/** The shipped layouts (runtime/formats/idoc/segments). */
export const BUILTIN_SEGMENTS_DIR = resolve(import.meta.dirname, 'segments');

const COMPACT = /^\s*([A-Za-z0-9_/]+)\s+(\d+)(?:\s+([a-z]+))?\s*$/;

/** Parse one segment YAML text; throws Error with `file: segment X field Y: problem`. */
export function parseSegmentYaml(text: string, file: string): SegmentLayout[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file}: expected a mapping with 'segments:'`);
  const root = doc as Record<string, unknown>;
  for (const k of Object.keys(root))
    if (!['segments', 'basicType', 'extension', 'description', 'source'].includes(k))
      throw new Error(`${file}: unknown key '${k}' (expected segments, basicType, extension, description, source)`);
  const segs = root.segments;
  if (segs === null || typeof segs !== 'object' || Array.isArray(segs)) throw new Error(`${file}: 'segments' must map segment names to layouts`);
  const out: SegmentLayout[] = [];
  for (const [name, def] of Object.entries(segs as Record<string, unknown>)) {
    const where = `${file}: segment ${name}`;
    if (!/^[A-Za-z0-9_/]{1,30}$/.test(name)) throw new Error(`${where}: a segment name has 1 to 30 characters A-Z, 0-9, _ and /`);
    if (def === null || typeof def !== 'object' || Array.isArray(def)) throw new Error(`${where}: expected a mapping with 'fields:'`);
    const d = def as Record<string, unknown>;
    for (const k of Object.keys(d))
      if (!['fields', 'parent', 'description'].includes(k)) throw new Error(`${where}: unknown key '${k}' (expected fields, parent, description)`);
    if (!Array.isArray(d.fields)) throw new Error(`${where}: 'fields' must be a list`);
    const fields: FieldLayout[] = [];
    const byName = new Map<string, FieldLayout>();
    let next = 0;
    d.fields.forEach((f: unknown, i: number) => {
      const at = `${where} field ${i + 1}`;
      let fl: FieldLayout;
      if (typeof f === 'string') {
        const m = COMPACT.exec(f);
        if (!m) throw new Error(`${at}: expected 'NAME LENGTH [TYPE]', got '${f}'`);
        fl = { name: m[1], offset: next, length: Number(m[2]), type: (m[3] ?? 'char') as FieldType };
      } else if (f !== null && typeof f === 'object' && !Array.isArray(f)) {
        const o = f as Record<string, unknown>;
        for (const k of Object.keys(o))
          if (!['name', 'length', 'offset', 'type', 'description'].includes(k)) throw new Error(`${at}: unknown key '${k}'`);
        if (typeof o.name !== 'string' || !/^[A-Za-z0-9_/]+$/.test(o.name)) throw new Error(`${at}: 'name' must be a field name`);
        if (!Number.isInteger(o.length) || (o.length as number) < 1) throw new Error(`${at} (${o.name}): 'length' must be a positive integer`);
        if (o.offset !== undefined && (!Number.isInteger(o.offset) || (o.offset as number) < 0))
          throw new Error(`${at} (${o.name}): 'offset' must be a non-negative integer`);
        fl = {
          name: o.name,
          offset: (o.offset as number | undefined) ?? next,
          length: o.length as number,
          type: (o.type ?? 'char') as FieldType,
        };
        if (typeof o.description === 'string') fl.description = o.description;
      } else throw new Error(`${at}: expected 'NAME LENGTH [TYPE]' or a mapping`);
      if (!FIELD_TYPES.includes(fl.type)) throw new Error(`${at} (${fl.name}): unknown type '${fl.type}' (expected ${FIELD_TYPES.join(', ')})`);
      if (fl.offset + fl.length > SDATA_LENGTH)
        throw new Error(`${at} (${fl.name}): ends at ${fl.offset + fl.length}, past the ${SDATA_LENGTH} characters of SDATA`);
      if (byName.has(fl.name)) throw new Error(`${at}: field ${fl.name} is declared twice`);
      byName.set(fl.name, fl);
      fields.push(fl);
      next = fl.offset + fl.length;
    });
    const span = fields.reduce((m, f) => Math.max(m, f.offset + f.length), 0);
    const layout: SegmentLayout = { name, fields, byName, span, source: file };
    if (typeof d.description === 'string') layout.description = d.description;
    if (d.parent !== undefined) {
      if (d.parent !== null && typeof d.parent !== 'string') throw new Error(`${where}: 'parent' must be a segment name or null`);
      layout.parent = d.parent as string | null;
    }
    out.push(layout);
  }
  return out;
}
