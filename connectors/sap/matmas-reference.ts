/**
 * MATMAS IDocs → the material reference CSV the SAP mappings look up (GTIN and base unit per material).
 *
 *   node connectors/sap/matmas-reference.ts [--merge current.csv] [--units units.csv] [--segments my.yaml] matmas*.xml|*.idoc > materials.csv
 *
 * One row per material: material (internal MATNR), sku (MATNR without leading zeros when numeric), gtin (EAN11 of
 * the base unit, else of E1MARAM), baseUnit (MEINS), description (MAKTX, English first). IDocs are applied in order:
 * MSGFN 003 deletes the material, anything else creates/replaces it; `--merge` starts from an existing CSV so MATMAS
 * deltas update the reference. `--units` also writes every unit of measure (material, unit, numerator, denominator,
 * gtin) for quantity conversions.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { bindIdoc, type IdocTree } from '../../runtime/formats/idoc/index.ts';

export interface MaterialRow {
  material: string;
  sku: string;
  gtin: string;
  baseUnit: string;
  description: string;
}

export interface UnitRow {
  material: string;
  unit: string;
  numerator: string;
  denominator: string;
  gtin: string;
}

type Seg = Record<string, any>;

export function skuOf(matnr: string): string {
  return /^\d+$/.test(matnr) ? matnr.replace(/^0+(?=\d)/, '') : matnr;
}

/** Applies MATMAS trees in order to the material and unit maps (keyed by MATNR). */
export function applyMatmas(trees: readonly IdocTree[], materials = new Map<string, MaterialRow>(), units = new Map<string, UnitRow[]>()): { materials: Map<string, MaterialRow>; units: Map<string, UnitRow[]> } {
  for (const t of trees) {
    for (const m of ((t as Seg).E1MARAM ?? []) as Seg[]) {
      const matnr = String(m.MATNR ?? '');
      if (!matnr) continue;
      if (m.MSGFN === '003') {
        materials.delete(matnr);
        units.delete(matnr);
        continue;
      }
      const marm = (m.E1MARMM ?? []) as Seg[];
      const base = marm.find((u) => u.MEINH === m.MEINS);
      const texts = (m.E1MAKTM ?? []) as Seg[];
      const text = texts.find((x) => x.SPRAS_ISO === 'EN' || x.SPRAS === 'E') ?? texts[0];
      materials.set(matnr, {
        material: matnr,
        sku: skuOf(matnr),
        gtin: String(base?.EAN11 ?? m.EAN11 ?? ''),
        baseUnit: String(m.MEINS ?? ''),
        description: String(text?.MAKTX ?? ''),
      });
      if (marm.length)
        units.set(
          matnr,
          marm.map((u) => ({
            material: matnr,
            unit: String(u.MEINH ?? ''),
            numerator: String(Number(u.UMREZ ?? 1)),
            denominator: String(Number(u.UMREN ?? 1)),
            gtin: String(u.EAN11 ?? ''),
          })),
        );
    }
  }
  return { materials, units };
}

function csvCell(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

export function toCsv<T extends object>(columns: readonly (keyof T & string)[], rows: Iterable<T>): string {
  let s = `${columns.join(',')}\n`;
  for (const r of rows) s += `${columns.map((c) => csvCell(String(r[c] ?? ''))).join(',')}\n`;
  return s;
}

/** Reads a reference CSV written by this tool (for --merge). */
export function readMaterialsCsv(text: string): Map<string, MaterialRow> {
  const out = new Map<string, MaterialRow>();
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const head = (lines.shift() ?? '').split(',');
  for (const line of lines) {
    const cells: string[] = [];
    let cur = '';
    let q = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (q && c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = !q;
      else if (c === ',' && !q) {
        cells.push(cur);
        cur = '';
      } else cur += c;
    }
    cells.push(cur);
    const row = Object.fromEntries(head.map((h, i) => [h, cells[i] ?? ''])) as unknown as MaterialRow;
    out.set(row.material, row);
  }
  return out;
}

export const MATERIAL_COLUMNS = ['material', 'sku', 'gtin', 'baseUnit', 'description'] as const;
export const UNIT_COLUMNS = ['material', 'unit', 'numerator', 'denominator', 'gtin'] as const;

/** Decodes IDoc files (flat or XML) and returns the MATMAS trees; broken IDocs are reported and skipped. */
export function readIdocFiles(files: readonly string[], segments: string[] = []): { trees: IdocTree[]; problems: string[] } {
  const fmt = bindIdoc({ segments }, process.cwd());
  const trees: IdocTree[] = [];
  const problems: string[] = [];
  for (const f of files) {
    for (const r of fmt.decodeMessage(readFileSync(f), f)) {
      if (r.error) problems.push(`${f}@${r.offset}: ${r.error.reason}`);
      else if ((r.value as IdocTree).EDI_DC40.MESTYP?.startsWith('MATMAS') || (r.value as Seg).E1MARAM) trees.push(r.value as IdocTree);
    }
  }
  return { trees, problems };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  let merge: string | undefined;
  let unitsFile: string | undefined;
  const segments: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--merge') merge = args[++i];
    else if (args[i] === '--units') unitsFile = args[++i];
    else if (args[i] === '--segments') segments.push(resolve(args[++i]));
    else files.push(args[i]);
  }
  if (files.length === 0) {
    process.stderr.write('usage: node connectors/sap/matmas-reference.ts [--merge current.csv] [--units units.csv] [--segments x.yaml] <MATMAS IDoc files...>\n');
    process.exit(2);
  }
  const { trees, problems } = readIdocFiles(files, segments);
  for (const p of problems) process.stderr.write(`skipped: ${p}\n`);
  const start = merge ? readMaterialsCsv(readFileSync(merge, 'utf8')) : undefined;
  const { materials, units } = applyMatmas(trees, start);
  process.stdout.write(toCsv(MATERIAL_COLUMNS, [...materials.values()].sort((a, b) => a.material.localeCompare(b.material))));
  if (unitsFile) writeFileSync(unitsFile, toCsv(UNIT_COLUMNS, [...units.values()].flat()));
  process.stderr.write(`${materials.size} material(s) from ${trees.length} MATMAS IDoc(s)\n`);
  process.exitCode = problems.length ? 1 : 0;
}
