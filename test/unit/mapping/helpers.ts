/** Shared helpers for the mapping tests: evaluate one expression, compile a mapping from text, map records. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InventoryEvent } from '../../../runtime/contracts/event.ts';
import type { MapContext, MapOutcome } from '../../../runtime/contracts/mapping.ts';
import type { SourceRecord } from '../../../runtime/contracts/spi.ts';
import { type CompileOptions, compileMapping, type LoadedMapping } from '../../../runtime/mapping/compile.ts';
import { Dec } from '../../../runtime/mapping/decimal.ts';
import { compileExpression } from '../../../runtime/mapping/expr.ts';
import { MapFault } from '../../../runtime/mapping/fault.ts';
import { Frame, type Scope } from '../../../runtime/mapping/frame.ts';
import type { Table, Units } from '../../../runtime/mapping/tables.ts';

export const CTX: MapContext = { receivedAt: '2026-01-06T00:00:00.000Z', connector: 'test' };

export interface EvalOptions {
  tables?: Record<string, Table>;
  units?: Units;
  meta?: Record<string, unknown>;
  ref?: string;
  item?: unknown;
}

/** Evaluates an expression against a record value: the value (Decs as text), or `{fault}` for a data problem. */
export function ev(src: string, value: unknown = {}, o: EvalOptions = {}): unknown {
  const scope: Scope = {
    tables: new Map(Object.entries(o.tables ?? {})),
    units: o.units ?? null,
    lets: new Map(),
    item: o.item !== undefined,
  };
  const c = compileExpression(src, scope);
  const f = new Frame();
  f.value = value;
  f.rec = { ref: o.ref ?? 'test:1', meta: o.meta };
  f.item = o.item;
  f.index = o.item !== undefined ? 0 : -1;
  try {
    const v = c.fn(f);
    return v instanceof Dec ? `#${Dec.toText(v)}` : v;
  } catch (e) {
    if (e instanceof MapFault) return { fault: e.reason };
    throw e;
  }
}

/** Whether an expression folded to a constant at compile time. */
export function isConst(src: string): boolean {
  return compileExpression(src, { tables: new Map(), units: null, lets: new Map(), item: false }).konst !== undefined;
}

/** A scratch directory with files in it; returns its path. */
export function scratch(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'sb-mapping-test-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Compiles mapping text as if it were `<dir>/m.yaml` (verify mode: the full checkEvent runs on every event). */
export async function compile(
  text: string,
  dir = scratch(),
  opts: Partial<CompileOptions> = {},
): Promise<LoadedMapping> {
  return compileMapping(text, { file: join(dir, 'm.yaml'), baseDir: dir, verify: true, ...opts });
}

/** The ConfigError text (`file:line:col: message`) compiling `text` gives, with the directory cut to `m.yaml`. */
export async function compileError(text: string, dir = scratch()): Promise<string> {
  try {
    await compile(text, dir);
  } catch (e) {
    return String(e).replace(`${dir}/`, '');
  }
  throw new Error('expected the mapping not to compile');
}

export interface Mapped {
  outcome: MapOutcome;
  events: InventoryEvent[];
}

/** Maps one decoded record. */
export function mapOne(m: LoadedMapping, value: unknown, ref = 'in.csv:2', meta?: Record<string, unknown>): Mapped {
  const events: InventoryEvent[] = [];
  const rec: SourceRecord = { ref, value, meta };
  const outcome = m.map(rec, value, events, CTX);
  return { outcome, events };
}

/** A minimal mapping around one event template, for field-level tests (input format jsonl). */
export function withEvent(fields: Record<string, string>, extra = ''): string {
  const base: Record<string, string> = {
    eventType: `"'SALE'"`,
    sku: 'sku',
    locationId: 'loc',
    quantity: 'qty',
    unitOfMeasure: `"'EA'"`,
    occurredAt: 'ts',
    ...fields,
  };
  const lines = Object.entries(base)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `  ${k}: ${v}`);
  return `mapping: t\ninput: { format: jsonl }\nsource: { system: test }\n${extra}event:\n${lines.join('\n')}\n`;
}

export const REC = { sku: 'SKU1', loc: 'L1', qty: '2', ts: '2026-01-05T10:00:00Z' };
