/**
 * Runtime value semantics of the mapping language: property access, conversions, comparison.
 *
 * Values are plain data: null (and missing, which behaves as null), text, booleans, exact decimals (Dec; JS numbers
 * from JSON input are read as the decimal they print as), lists and objects from the input. Instants are canonical
 * ISO-8601 UTC text.
 */
import { Dec } from './decimal.ts';
import { fault } from './fault.ts';

/** Path segments that are refused at compile time: they are how sandboxes are escaped. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Names that exist on built-in prototypes: reading them requires an own-property check (`toString`, `map`...). */
const INHERITED = new Set<string>();
for (const proto of [Object.prototype, Array.prototype, Function.prototype, String.prototype])
  for (const k of Object.getOwnPropertyNames(proto)) INHERITED.add(k);

/** Whether `obj[key]` can be read directly (cannot land on an inherited built-in). */
export function isPlainKey(key: string): boolean {
  return !INHERITED.has(key) && !FORBIDDEN_KEYS.has(key);
}

/** `obj.key` with own-property semantics; anything that is not a record or list reads as missing. */
export function getKey(obj: unknown, key: string): unknown {
  if (obj === null || typeof obj !== 'object') return undefined;
  if (INHERITED.has(key) || FORBIDDEN_KEYS.has(key)) {
    if (FORBIDDEN_KEYS.has(key) || !Object.hasOwn(obj, key)) return undefined;
    if (Array.isArray(obj)) return undefined;
  }
  return (obj as Record<string, unknown>)[key];
}

/** `obj[i]`: list element (negative counts from the end), or the property `i` of a record. */
export function getIndex(obj: unknown, i: number): unknown {
  if (Array.isArray(obj)) {
    if (i < 0) i += obj.length;
    return i >= 0 && i < obj.length ? obj[i] : undefined;
  }
  return getKey(obj, String(i));
}

/** `obj[key]` with a key computed at run time. */
export function getDynamic(obj: unknown, key: unknown): unknown {
  if (typeof key === 'string') return getKey(obj, key);
  if (typeof key === 'number' && Number.isInteger(key)) return getIndex(obj, key);
  if (key instanceof Dec) {
    const n = Dec.toInt(key);
    if (n !== null) return getIndex(obj, n);
  }
  if (key === null || key === undefined) return undefined;
  return fault(`cannot index with ${show(key)}`);
}

/** Short, safe rendering of a value for messages. */
export function show(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Dec) return Dec.toText(v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'a record';
  return typeof v;
}

export function typeName(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'string') return 'text';
  if (typeof v === 'number' || v instanceof Dec) return 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) return 'list';
  return 'record';
}

/** Text of a scalar; null stays null; lists and records are a fault. */
export function toText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return null;
  if (v instanceof Dec) return Dec.toText(v);
  if (typeof v === 'number') {
    const d = Dec.ofNumber(v);
    return d ? Dec.toText(d) : fault(`${v} is not a finite number`);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return fault(`expected text, got ${show(v)}`);
}

/** The number in a value (text is parsed, with `.` as decimal separator); null stays null; else a fault. */
export function toDec(v: unknown): Dec | null {
  if (v instanceof Dec) return v;
  if (typeof v === 'string') {
    const d = Dec.parse(v);
    if (d === null) fault(`${show(v)} is not a number`);
    return d;
  }
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return Dec.ofInt(v);
    const d = Dec.ofNumber(v);
    if (d === null) fault(`${v} is not a finite number`);
    return d;
  }
  if (v === null || v === undefined) return null;
  return fault(`expected a number, got ${show(v)}`);
}

/** A value as a small integer (positions, lengths); null stays null. */
export function toInt(v: unknown, what: string): number | null {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  const d = toDec(v);
  if (d === null) return null;
  const n = Dec.toInt(d);
  if (n === null) fault(`${what} must be a whole number, got ${show(v)}`);
  return n;
}

/** Conditions: true, false, or null (= false). Anything else is a fault: compare explicitly. */
export function toBool(v: unknown, what: string): boolean {
  if (v === true) return true;
  if (v === false || v === null || v === undefined) return false;
  return fault(`${what} must be true or false, got ${show(v)} (compare explicitly, e.g. x == 'Y')`);
}

export function isNumeric(v: unknown): boolean {
  return typeof v === 'number' || v instanceof Dec;
}

/** `??` and coalesce(): null, missing and empty text are absent. */
export function isAbsent(v: unknown): boolean {
  return v === null || v === undefined || v === '';
}

/**
 * Equality: null equals only null/missing; if either side is a number both compare as numbers (text that is not a
 * number is simply unequal); otherwise same type and same value.
 */
export function equals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || a === undefined) return b === null || b === undefined;
  if (b === null || b === undefined) return false;
  if (typeof a === 'string' && typeof b === 'string') return false;
  if (isNumeric(a) || isNumeric(b)) {
    if (typeof a === 'boolean' || typeof b === 'boolean') return false;
    const x = numOrNull(a);
    const y = numOrNull(b);
    return x !== null && y !== null && Dec.cmp(x, y) === 0;
  }
  return false;
}

function numOrNull(v: unknown): Dec | null {
  if (v instanceof Dec) return v;
  if (typeof v === 'number') return Dec.ofNumber(v);
  if (typeof v === 'string') return Dec.parse(v);
  return null;
}

/**
 * Ordering: numbers when either side is a number (the other must then be numeric), text by code point otherwise
 * (canonical instants order correctly as text). Returns NaN when either side is null: every ordering test is false.
 */
export function compare(a: unknown, b: unknown): number {
  if (a === null || a === undefined || b === null || b === undefined) return Number.NaN;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (isNumeric(a) || isNumeric(b)) return Dec.cmp(toDec(a)!, toDec(b)!);
  return fault(`cannot order ${show(a)} and ${show(b)}`);
}

/** Key text for lookups and tables: numbers in canonical form, text as is. */
export function keyText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return null;
  return toText(v);
}
