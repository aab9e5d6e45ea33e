/**
 * Parquet schemas as this writer understands them: flat columns of INT32, INT64 or BYTE_ARRAY with a logical
 * type, plus MAP<string, string> columns (the standard three-level layout). Enough for canonical events and for
 * other flat record types later.
 */
import { binary, bool, i8, i32, list, struct, type ThriftStruct, type ThriftValue } from './thrift.ts';

export type Physical = 'INT32' | 'INT64' | 'BYTE_ARRAY';
export type Repetition = 'REQUIRED' | 'OPTIONAL' | 'REPEATED';

export type Logical =
  | { type: 'STRING' }
  | { type: 'DATE' }
  | { type: 'TIMESTAMP'; unit: 'MILLIS' | 'MICROS'; utc: boolean }
  | { type: 'DECIMAL'; precision: number; scale: number }
  | { type: 'INT'; bits: 8 | 16 | 32 | 64; signed: boolean };

export interface ColumnField {
  kind: 'column';
  name: string;
  physical: Physical;
  logical?: Logical;
  optional: boolean;
}

/** MAP<STRING, STRING>: `optional group name (MAP) { repeated group key_value { required key; required value } }`. */
export interface MapField {
  kind: 'map';
  name: string;
  optional: boolean;
}

export type Field = ColumnField | MapField;

/** One leaf column of the flattened schema, in file order. */
export interface Leaf {
  path: string[];
  physical: Physical;
  logical?: Logical;
  maxDef: number;
  maxRep: number;
  /** Leaf of a MAP: levels and row starts are shared by its key and value leaves. */
  inMap: boolean;
}

export const REPETITION: Record<Repetition, number> = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 };
export const PHYSICAL: Record<Physical, number> = { INT32: 1, INT64: 2, BYTE_ARRAY: 6 };

export function leaves(fields: readonly Field[]): Leaf[] {
  const out: Leaf[] = [];
  for (const f of fields) {
    if (f.kind === 'column')
      out.push({ path: [f.name], physical: f.physical, logical: f.logical, maxDef: f.optional ? 1 : 0, maxRep: 0, inMap: false });
    else {
      const def = (f.optional ? 1 : 0) + 1; // + the repeated key_value group
      out.push({ path: [f.name, 'key_value', 'key'], physical: 'BYTE_ARRAY', logical: { type: 'STRING' }, maxDef: def, maxRep: 1, inMap: true });
      out.push({ path: [f.name, 'key_value', 'value'], physical: 'BYTE_ARRAY', logical: { type: 'STRING' }, maxDef: def, maxRep: 1, inMap: true });
    }
  }
  return out;
}

function logicalType(l: Logical): ThriftValue {
  const empty = struct({});
  switch (l.type) {
    case 'STRING':
      return struct({ 1: empty });
    case 'DATE':
      return struct({ 6: empty });
    case 'DECIMAL':
      return struct({ 5: struct({ 1: i32(l.scale), 2: i32(l.precision) }) });
    case 'TIMESTAMP':
      return struct({ 8: struct({ 1: bool(l.utc), 2: struct({ [l.unit === 'MILLIS' ? 1 : 2]: empty }) }) });
    case 'INT':
      return struct({ 10: struct({ 1: i8(l.bits), 2: bool(l.signed) }) });
  }
}

/** The legacy ConvertedType matching a logical type, for older readers (none for non-UTC timestamps). */
function convertedType(l: Logical): number | undefined {
  switch (l.type) {
    case 'STRING':
      return 0; // UTF8
    case 'DATE':
      return 6;
    case 'DECIMAL':
      return 5;
    case 'TIMESTAMP':
      return l.utc ? (l.unit === 'MILLIS' ? 9 : 10) : undefined;
    case 'INT':
      return (l.signed ? { 8: 15, 16: 16, 32: 17, 64: 18 } : { 8: 11, 16: 12, 32: 13, 64: 14 })[l.bits];
  }
}

function leafElement(name: string, physical: Physical, rep: Repetition, logical?: Logical): ThriftStruct {
  const s: ThriftStruct = { 1: i32(PHYSICAL[physical]), 3: i32(REPETITION[rep]), 4: binary(name) };
  if (logical) {
    const ct = convertedType(logical);
    if (ct !== undefined) s[6] = i32(ct);
    if (logical.type === 'DECIMAL') {
      s[7] = i32(logical.scale);
      s[8] = i32(logical.precision);
    }
    s[10] = logicalType(logical);
  }
  return s;
}

/** The flattened SchemaElement list of the footer (depth first, root first). */
export function schemaElements(fields: readonly Field[]): ThriftValue {
  const els: ThriftValue[] = [struct({ 4: binary('schema'), 5: i32(fields.length) })];
  for (const f of fields) {
    if (f.kind === 'column') els.push(struct(leafElement(f.name, f.physical, f.optional ? 'OPTIONAL' : 'REQUIRED', f.logical)));
    else {
      els.push(struct({ 3: i32(REPETITION[f.optional ? 'OPTIONAL' : 'REQUIRED']), 4: binary(f.name), 5: i32(1), 6: i32(1), 10: struct({ 2: struct({}) }) }));
      els.push(struct({ 3: i32(REPETITION.REPEATED), 4: binary('key_value'), 5: i32(2) }));
      els.push(struct(leafElement('key', 'BYTE_ARRAY', 'REQUIRED', { type: 'STRING' })));
      els.push(struct(leafElement('value', 'BYTE_ARRAY', 'REQUIRED', { type: 'STRING' })));
    }
  }
  return list('struct', els);
}
