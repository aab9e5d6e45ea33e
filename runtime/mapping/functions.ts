/**
 * Built-in functions of the mapping language. This table is the whole callable surface: a name that is not here does
 * not compile. Each entry has its signature and one-line description (rendered in docs/mapping-language.md and in
 * "unknown function" hints), arity, result type, and either an eager implementation over evaluated arguments or a
 * custom compile step (lazy arguments, table references, constant patterns).
 */
import {
  compilePattern,
  formatInstant,
  isoOfEpochMicros,
  PatternError,
  parseIso,
  parseWithPattern,
  parseWithPattern2,
  zoneOrFault,
  getZone,
  type DatePattern,
  type Zone,
} from './datetime.ts';
import { Dec, ROUNDING_MODES, type RoundingMode } from './decimal.ts';
import { fault } from './fault.ts';
import type { CallCtx, Compiled, Fn, Frame, Ty } from './frame.ts';
import type { Node } from './parser.ts';
import { KEY_SEP, type Table } from './tables.ts';
import { equals, isAbsent, isNumeric, keyText, show, toBool, toDec, toInt, toText } from './values.ts';

export interface FnSpec {
  sig: string;
  doc: string;
  group: 'text' | 'number' | 'date' | 'condition' | 'null' | 'table' | 'other';
  min: number;
  max: number;
  t: Ty;
  /** Eager implementation: receives evaluated arguments. Pure functions with constant arguments are folded. */
  impl?: (...args: any[]) => unknown;
  /** Custom compilation; return undefined to fall back to impl. */
  compile?: (c: CallCtx) => Compiled | undefined;
  /** Has an effect (reject): never folded. */
  impure?: boolean;
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : toText(v));

function charSet(chars: unknown): Set<string> | null {
  if (chars === undefined) return null;
  const t = text(chars);
  if (t === null || t.length === 0) return fault('trim characters must be non-empty text');
  return new Set([...t]);
}

function trimWith(s: string, set: Set<string> | null, start: boolean, end: boolean): string {
  if (set === null) return start && end ? s.trim() : start ? s.trimStart() : s.trimEnd();
  let i = 0;
  let j = s.length;
  if (start) while (i < j && set.has(s[i])) i++;
  if (end) while (j > i && set.has(s[j - 1])) j--;
  return i === 0 && j === s.length ? s : s.slice(i, j);
}

function pad(s: unknown, len: unknown, ch: unknown, start: boolean): string | null {
  const t = text(s);
  if (t === null) return null;
  const n = toInt(len, 'pad length');
  if (n === null) return t;
  if (n > 10_000) fault('pad length is too large');
  const c = ch === undefined ? ' ' : text(ch);
  if (!c) fault('pad character must be non-empty text');
  return start ? t.padStart(n, c) : t.padEnd(n, c);
}

function roundMode(v: unknown): RoundingMode {
  if (typeof v !== 'string' || !ROUNDING_MODES.includes(v as RoundingMode))
    fault(`rounding mode must be one of ${ROUNDING_MODES.join(', ')}, got ${show(v)}`);
  return v as RoundingMode;
}

function roundScale(v: unknown): number {
  const n = toInt(v, 'round digits');
  if (n === null || n < 0 || n > 18) fault(`round digits must be 0 to 18, got ${show(v)}`);
  return n;
}

function sepCode(v: unknown, what: string): number {
  const t = text(v);
  if (t === null || t.length !== 1) fault(`${what} must be a single character, got ${show(v)}`);
  return t.charCodeAt(0);
}

function decimalOf(v: unknown, dec = 46, group = -1): Dec | null {
  if (v instanceof Dec) return v;
  if (typeof v === 'number') return toDec(v);
  if (v === null || v === undefined || v === '') return null;
  if (typeof v !== 'string') fault(`decimal: expected text or a number, got ${show(v)}`);
  const d = Dec.parse(v, dec, group);
  if (d === null) fault(`decimal: ${show(v)} is not a number`);
  return d;
}

function resolveTable(c: CallCtx): Table {
  const n = c.node.args[0];
  let name: string | undefined;
  if (n.k === 'field' && !n.quoted) name = n.name;
  else if (n.k === 'lit' && typeof n.v === 'string' && n.raw === undefined) name = n.v;
  if (name === undefined)
    c.error(`the first argument of ${c.node.fn}() is the name of a table or lookup, e.g. ${c.node.fn}(stores, …)`, n);
  const t = c.scope.tables.get(name);
  if (!t) {
    const known = [...c.scope.tables.keys()];
    c.error(
      `unknown table or lookup ${JSON.stringify(name)}${known.length ? ` (declared: ${known.join(', ')})` : ' (none declared in tables: or lookups:)'}`,
      n,
    );
  }
  return t;
}

/** Compiles the key argument of lookup()/has(): a closure returning the joined key text (no list allocated). */
function keyFn(c: CallCtx, t: Table): Fn {
  const kn = c.node.args[1];
  const nk = t.keyColumns.length;
  if (kn.k === 'array') {
    if (kn.items.length !== nk)
      c.error(
        `${t.kind} ${t.name} is keyed by ${nk} column${nk > 1 ? 's' : ''} (${t.keyColumns.join(', ')}); this key has ${kn.items.length}`,
        kn,
      );
    const items = kn.items.map((n) => c.sub(n).fn);
    if (items.length === 1) {
      const a = items[0];
      return (f) => keyText(a(f));
    }
    if (items.length === 2) {
      const [a, b] = items;
      return (f) => {
        const x = keyText(a(f));
        const y = keyText(b(f));
        return x === null || y === null ? null : x + KEY_SEP + y;
      };
    }
    return (f) => {
      let k = '';
      for (let i = 0; i < items.length; i++) {
        const p = keyText(items[i](f));
        if (p === null) return null;
        k = i === 0 ? p : k + KEY_SEP + p;
      }
      return k;
    };
  }
  const a = c.arg(1);
  if (nk > 1) {
    if (a.t !== 'list' && a.t !== 'any')
      c.error(`${t.kind} ${t.name} has a composite key (${t.keyColumns.join(', ')}): pass a list, e.g. [a, b]`, kn);
    const af = a.fn;
    return (f) => t.keyOf(af(f));
  }
  const af = a.fn;
  if (a.t === 'text') return af as Fn;
  return (f) => {
    const v = af(f);
    return typeof v === 'string' ? v : keyText(v);
  };
}

function compileLookup(c: CallCtx): Compiled {
  const t = resolveTable(c);
  const key = keyFn(c, t);
  let col: string | null = null;
  if (c.node.args.length === 3) {
    const ca = c.arg(2);
    if (!ca.konst) {
      // dynamic column: checked at run time
      const cf = ca.fn;
      return {
        node: c.node,
        t: 'any',
        fn: (f) => {
          const k = key(f) as string | null;
          const cn = cf(f);
          if (typeof cn !== 'string' || !t.columns.includes(cn))
            fault(`${t.kind} ${t.name} has no column ${show(cn)} (columns: ${t.columns.join(', ')})`);
          const r = k === null ? undefined : t.row(k);
          return r === undefined ? t.missing(k, cn) : r[cn];
        },
      };
    }
    const v = ca.konst.v;
    if (typeof v !== 'string' || !t.columns.includes(v))
      c.error(`${t.kind} ${t.name} has no column ${show(v)} (columns: ${t.columns.join(', ')})`, c.node.args[2]);
    col = v;
  } else {
    col = t.valueColumn;
    if (col === null)
      c.error(
        `${t.kind} ${t.name} has ${t.columns.length} value columns (${t.columns.join(', ')}): name one, lookup(${t.name}, key, '${t.columns[0]}'), or declare value: in its definition`,
      );
  }
  const m = t.column(col);
  const cc = col;
  return {
    node: c.node,
    t: 'any',
    fn: (f) => {
      const k = key(f) as string | null;
      if (k !== null) {
        const v = m.get(k);
        if (v !== undefined) return v;
      }
      return t.missing(k, cc);
    },
  };
}

function lazy(c: CallCtx): Fn[] {
  return c.node.args.map((_, i) => c.arg(i).fn);
}

function cond(fn: Fn, what: string): (f: Frame) => boolean {
  return (f) => {
    const v = fn(f);
    return v === true ? true : v === false || v == null ? false : toBool(v, what);
  };
}

function datePattern(c: CallCtx, i: number): DatePattern | Fn {
  const a = c.arg(i);
  if (a.konst) {
    const v = a.konst.v;
    if (typeof v !== 'string') c.error('a date pattern must be text', c.node.args[i]);
    try {
      return compilePattern(v);
    } catch (e) {
      if (e instanceof PatternError) c.error(e.message, c.node.args[i]);
      throw e;
    }
  }
  const af = a.fn;
  return (f) => {
    const v = af(f);
    if (typeof v !== 'string') fault(`a date pattern must be text, got ${show(v)}`);
    try {
      return compilePattern(v);
    } catch (e) {
      return fault((e as Error).message);
    }
  };
}

function zoneArg(c: CallCtx, i: number): Zone | Fn | null {
  if (c.node.args.length <= i) return null;
  const a = c.arg(i);
  if (a.konst) {
    const z = typeof a.konst.v === 'string' ? getZone(a.konst.v) : null;
    if (!z)
      c.error(
        `unknown time zone ${show(a.konst.v)} (use an IANA name like 'Europe/Paris', 'UTC' or an offset like '+02:00')`,
        c.node.args[i],
      );
    return z;
  }
  const af = a.fn;
  // zones usually repeat (one per store): remember the last one
  let lastName: unknown;
  let lastZone: Zone | undefined;
  return (f) => {
    const name = af(f);
    if (name === lastName && lastZone !== undefined) return lastZone;
    const z = zoneOrFault(name);
    lastName = name;
    lastZone = z;
    return z;
  };
}

export const FUNCTIONS: Record<string, FnSpec> = {
  // ---- text -------------------------------------------------------------------------------------------------------
  trim: {
    sig: 'trim(s[, chars])',
    doc: 'Removes white space (or any of `chars`) at both ends.',
    group: 'text',
    min: 1,
    max: 2,
    t: 'text',
    impl: (s, chars) => {
      const t = text(s);
      return t === null ? null : trimWith(t, charSet(chars), true, true);
    },
  },
  trimStart: {
    sig: 'trimStart(s[, chars])',
    doc: "Removes white space (or any of `chars`) at the start: `trimStart(MATNR, '0')` drops leading zeros.",
    group: 'text',
    min: 1,
    max: 2,
    t: 'text',
    impl: (s, chars) => {
      const t = text(s);
      return t === null ? null : trimWith(t, charSet(chars), true, false);
    },
  },
  trimEnd: {
    sig: 'trimEnd(s[, chars])',
    doc: 'Removes white space (or any of `chars`) at the end.',
    group: 'text',
    min: 1,
    max: 2,
    t: 'text',
    impl: (s, chars) => {
      const t = text(s);
      return t === null ? null : trimWith(t, charSet(chars), false, true);
    },
  },
  upper: {
    sig: 'upper(s)',
    doc: 'Upper case.',
    group: 'text',
    min: 1,
    max: 1,
    t: 'text',
    impl: (s) => {
      const t = text(s);
      return t === null ? null : t.toUpperCase();
    },
  },
  lower: {
    sig: 'lower(s)',
    doc: 'Lower case.',
    group: 'text',
    min: 1,
    max: 1,
    t: 'text',
    impl: (s) => {
      const t = text(s);
      return t === null ? null : t.toLowerCase();
    },
  },
  substr: {
    sig: 'substr(s, start[, length])',
    doc: 'Part of `s` from `start` (0-based; negative counts from the end), `length` characters or to the end.',
    group: 'text',
    min: 2,
    max: 3,
    t: 'text',
    impl: (s, start, len) => {
      const t = text(s);
      if (t === null) return null;
      let a = toInt(start, 'substr start') ?? 0;
      if (a < 0) a = Math.max(0, t.length + a);
      if (len === undefined) return t.slice(a);
      const l = toInt(len, 'substr length');
      if (l === null) return t.slice(a);
      if (l < 0) fault('substr length cannot be negative');
      return t.slice(a, a + l);
    },
  },
  left: {
    sig: 'left(s, n)',
    doc: 'The first `n` characters.',
    group: 'text',
    min: 2,
    max: 2,
    t: 'text',
    impl: (s, n) => {
      const t = text(s);
      const k = toInt(n, 'left length');
      return t === null || k === null ? t : t.slice(0, Math.max(0, k));
    },
  },
  right: {
    sig: 'right(s, n)',
    doc: 'The last `n` characters.',
    group: 'text',
    min: 2,
    max: 2,
    t: 'text',
    impl: (s, n) => {
      const t = text(s);
      const k = toInt(n, 'right length');
      return t === null || k === null ? t : k <= 0 ? '' : t.slice(-k);
    },
  },
  padStart: {
    sig: 'padStart(s, length[, char])',
    doc: "Left-pads to `length` with `char` (default space): `padStart(MATNR, 18, '0')`. Longer text is kept whole.",
    group: 'text',
    min: 2,
    max: 3,
    t: 'text',
    impl: (s, n, ch) => pad(s, n, ch, true),
  },
  padEnd: {
    sig: 'padEnd(s, length[, char])',
    doc: 'Right-pads to `length` with `char` (default space).',
    group: 'text',
    min: 2,
    max: 3,
    t: 'text',
    impl: (s, n, ch) => pad(s, n, ch, false),
  },
  replace: {
    sig: 'replace(s, find, with)',
    doc: 'Replaces every occurrence of the text `find` (not a pattern) by `with`.',
    group: 'text',
    min: 3,
    max: 3,
    t: 'text',
    impl: (s, find, by) => {
      const t = text(s);
      if (t === null) return null;
      const a = text(find);
      if (!a) fault('replace: the text to find cannot be empty');
      return t.split(a).join(text(by) ?? '');
    },
  },
  split: {
    sig: 'split(s, separator)',
    doc: "List of the parts of `s` between separators: `split(REF, '-')[1]`.",
    group: 'text',
    min: 2,
    max: 2,
    t: 'list',
    impl: (s, sep) => {
      const t = text(s);
      if (t === null) return null;
      const p = text(sep);
      if (p === null) fault('split: the separator cannot be null');
      return t.split(p);
    },
  },
  join: {
    sig: 'join(list, separator)',
    doc: 'Joins the items of a list (nulls skipped) with `separator`.',
    group: 'text',
    min: 2,
    max: 2,
    t: 'text',
    impl: (l, sep) => {
      if (l === null || l === undefined) return null;
      if (!Array.isArray(l)) fault(`join: expected a list, got ${show(l)}`);
      const s = text(sep) ?? '';
      let out = '';
      let first = true;
      for (const x of l) {
        const t = text(x);
        if (t === null) continue;
        out = first ? t : out + s + t;
        first = false;
      }
      return out;
    },
  },
  concat: {
    sig: 'concat(a, b, …)',
    doc: 'Text concatenation (same as `a & b & …`); null counts as empty text.',
    group: 'text',
    min: 1,
    max: Number.POSITIVE_INFINITY,
    t: 'text',
    impl: (...xs) => {
      let out = '';
      for (const x of xs) out += text(x) ?? '';
      return out;
    },
  },
  startsWith: {
    sig: 'startsWith(s, prefix)',
    doc: 'Whether `s` starts with `prefix` (false for null).',
    group: 'text',
    min: 2,
    max: 2,
    t: 'bool',
    impl: (s, p) => {
      const t = text(s);
      const q = text(p);
      return t !== null && q !== null && t.startsWith(q);
    },
  },
  endsWith: {
    sig: 'endsWith(s, suffix)',
    doc: 'Whether `s` ends with `suffix` (false for null).',
    group: 'text',
    min: 2,
    max: 2,
    t: 'bool',
    impl: (s, p) => {
      const t = text(s);
      const q = text(p);
      return t !== null && q !== null && t.endsWith(q);
    },
  },
  contains: {
    sig: 'contains(s, part)',
    doc: 'Whether `s` contains `part` (false for null); for a list, whether an item equals `part`.',
    group: 'text',
    min: 2,
    max: 2,
    t: 'bool',
    impl: (s, p) => {
      if (Array.isArray(s)) return s.some((x) => equals(x, p));
      const t = text(s);
      const q = text(p);
      return t !== null && q !== null && t.includes(q);
    },
  },
  length: {
    sig: 'length(x)',
    doc: 'Number of characters of text, or of items of a list; null for null.',
    group: 'text',
    min: 1,
    max: 1,
    t: 'num',
    impl: (x) => {
      if (x === null || x === undefined) return null;
      if (Array.isArray(x)) return x.length;
      return (text(x) as string).length;
    },
  },
  text: {
    sig: 'text(x)',
    doc: 'The text form of a value: numbers without exponent or trailing fraction zeros, true/false.',
    group: 'text',
    min: 1,
    max: 1,
    t: 'text',
    impl: (x) => text(x),
  },
  matches: {
    sig: "matches(s, 'regex')",
    doc: 'Whether the whole of `s` matches the regular expression (a constant; checked when the mapping compiles).',
    group: 'text',
    min: 2,
    max: 2,
    t: 'bool',
    compile: (c) => {
      const pat = c.arg(1).konst?.v;
      if (typeof pat !== 'string') return c.error('matches(): the pattern must be a text literal', c.node.args[1]);
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${pat})$`, 'u');
      } catch (e) {
        c.error(`invalid regular expression: ${(e as Error).message}`, c.node.args[1]);
      }
      const s = c.arg(0).fn;
      return {
        node: c.node,
        t: 'bool',
        fn: (f) => {
          const t = text(s(f));
          return t !== null && re.test(t);
        },
      };
    },
  },

  // ---- numbers ----------------------------------------------------------------------------------------------------
  decimal: {
    sig: 'decimal(x[, decimalSep[, groupSep]])',
    doc: "Exact number from text: `decimal('1.234,5', ',', '.')`; accepts a leading or trailing minus (`12-`) and an exponent. Empty text is null.",
    group: 'number',
    min: 1,
    max: 3,
    t: 'num',
    compile: (c) => {
      if (c.node.args.length === 1) return undefined;
      const ds = c.arg(1);
      const gs = c.node.args.length > 2 ? c.arg(2) : undefined;
      if (!ds.konst || (gs && !gs.konst)) return undefined;
      let dcode = 46;
      let gcode = -1;
      try {
        dcode = sepCode(ds.konst.v, 'decimal separator');
        if (gs) gcode = sepCode(gs.konst!.v, 'group separator');
      } catch (e) {
        c.error((e as { reason: string }).reason);
      }
      if (dcode === gcode) c.error('decimal and group separators must differ');
      const a = c.arg(0).fn;
      return { node: c.node, t: 'num', fn: (f) => decimalOf(a(f), dcode, gcode) };
    },
    impl: (x, ds, gs) =>
      decimalOf(
        x,
        ds === undefined ? 46 : sepCode(ds, 'decimal separator'),
        gs === undefined ? -1 : sepCode(gs, 'group separator'),
      ),
  },
  round: {
    sig: 'round(x[, digits[, mode]])',
    doc: 'Rounds to `digits` fraction digits (default 0) with `mode`: half-up (default, ties away from zero), half-even, half-down, up, down, ceiling, floor. `round(a / b, 3)` divides and rounds exactly.',
    group: 'number',
    min: 1,
    max: 3,
    t: 'num',
    compile: (c) => {
      const n = c.node.args.length > 1 ? c.arg(1) : undefined;
      const m = c.node.args.length > 2 ? c.arg(2) : undefined;
      if ((n && !n.konst) || (m && !m.konst)) return undefined;
      let scale = 0;
      let mode: RoundingMode = 'half-up';
      try {
        if (n) scale = roundScale(n.konst!.v);
        if (m) mode = roundMode(m.konst!.v);
      } catch (e) {
        c.error((e as { reason: string }).reason, m && !n ? c.node.args[2] : c.node.args[1]);
      }
      const x = c.node.args[0];
      if (x.k === 'binary' && x.op === '/') {
        // exact division rounded once, instead of an exact quotient that may not exist
        const ca = c.sub(x.a);
        const cb = c.sub(x.b);
        if (ca.konst && cb.konst) {
          const p = toDec(ca.konst.v);
          const q = toDec(cb.konst.v);
          const v = p === null || q === null ? null : Dec.divRound(p, q, scale, mode);
          return { node: c.node, t: 'num', konst: { v }, fn: () => v };
        }
        const a = ca.fn;
        const b = cb.fn;
        return {
          node: c.node,
          t: 'num',
          fn: (f) => {
            const p = toDec(a(f));
            const q = toDec(b(f));
            return p === null || q === null ? null : Dec.divRound(p, q, scale, mode);
          },
        };
      }
      const a = c.arg(0).fn;
      return {
        node: c.node,
        t: 'num',
        fn: (f) => {
          const d = toDec(a(f));
          return d === null ? null : Dec.round(d, scale, mode);
        },
      };
    },
    impl: (x, n, m) => {
      const d = toDec(x);
      return d === null
        ? null
        : Dec.round(d, n === undefined ? 0 : roundScale(n), m === undefined ? 'half-up' : roundMode(m));
    },
  },
  abs: {
    sig: 'abs(x)',
    doc: 'Absolute value.',
    group: 'number',
    min: 1,
    max: 1,
    t: 'num',
    impl: (x) => {
      const d = toDec(x);
      return d === null ? null : Dec.abs(d);
    },
  },
  neg: {
    sig: 'neg(x)',
    doc: 'Negation (same as `-x`).',
    group: 'number',
    min: 1,
    max: 1,
    t: 'num',
    impl: (x) => {
      const d = toDec(x);
      return d === null ? null : Dec.neg(d);
    },
  },
  min: {
    sig: 'min(a, b, …)',
    doc: 'Smallest number (nulls ignored).',
    group: 'number',
    min: 1,
    max: Number.POSITIVE_INFINITY,
    t: 'num',
    impl: (...xs) => {
      let best: Dec | null = null;
      for (const x of xs) {
        const d = toDec(x);
        if (d !== null && (best === null || Dec.cmp(d, best) < 0)) best = d;
      }
      return best;
    },
  },
  max: {
    sig: 'max(a, b, …)',
    doc: 'Largest number (nulls ignored).',
    group: 'number',
    min: 1,
    max: Number.POSITIVE_INFINITY,
    t: 'num',
    impl: (...xs) => {
      let best: Dec | null = null;
      for (const x of xs) {
        const d = toDec(x);
        if (d !== null && (best === null || Dec.cmp(d, best) > 0)) best = d;
      }
      return best;
    },
  },
  isNumber: {
    sig: 'isNumber(x)',
    doc: 'Whether `x` is a number or text that reads as one (`.` decimal separator).',
    group: 'number',
    min: 1,
    max: 1,
    t: 'bool',
    impl: (x) => isNumeric(x) || (typeof x === 'string' && Dec.parse(x) !== null),
  },

  // ---- dates --------------------------------------------------------------------------------------------------------
  parseDate: {
    sig: "parseDate(text, 'pattern'[, zone])",
    doc: "The instant of a wall-clock text in a time zone: `parseDate(D & ' ' & T, 'yyyyMMdd HHmmss', 'Europe/Paris')`. Letters: yyyy yy MM M MMM MMMM dd d HH H hh h a mm m ss s S…S X XX XXX Z; 'quoted' literal text. The zone may be an expression (e.g. from a lookup); an offset in the text wins. Empty text is null.",
    group: 'date',
    min: 2,
    max: 3,
    t: 'instant',
    compile: (c) => {
      const s = c.arg(0).fn;
      const p = datePattern(c, 1);
      const z = zoneArg(c, 2);
      if (typeof p !== 'function' && !p.hasOffset && z === null)
        c.error(
          "parseDate() needs a time zone (third argument, e.g. 'Europe/Paris' or 'UTC') unless the pattern reads a UTC offset (XXX)",
        );
      const x = c.node.args[0];
      if (typeof p !== 'function' && p.fixed !== null && x.k === 'binary' && x.op === '&') {
        // parseDate(date & time, …): read the parts in place instead of concatenating them (see parseWithPattern2)
        const parts: Node[] = [];
        const walk = (n: Node) => {
          if (n.k === 'binary' && n.op === '&') {
            walk(n.a);
            walk(n.b);
          } else parts.push(n);
        };
        walk(x);
        const fns = parts.map((n) => c.sub(n).fn);
        const last = fns.pop()!;
        const head = fns;
        const zf = typeof z === 'function' ? z : null;
        const zc = typeof z === 'function' ? null : (z as Zone | null);
        return {
          node: c.node,
          t: 'instant',
          fn: (f) => {
            let a = '';
            for (let i = 0; i < head.length; i++) a += text(head[i](f)) ?? '';
            const b = text(last(f)) ?? '';
            if (a === '' && b === '') return null;
            const zone = zf !== null ? (zf(f) as Zone) : zc;
            return parseWithPattern2(a, b, p, zone);
          },
        };
      }
      if (typeof p !== 'function' && (z === null || typeof z !== 'function')) {
        const zone = z as Zone | null;
        return {
          node: c.node,
          t: 'instant',
          fn: (f) => {
            const v = s(f);
            if (typeof v === 'string') return v === '' ? null : parseWithPattern(v, p, zone);
            if (v === null || v === undefined) return null;
            return parseWithPattern(text(v)!, p, zone);
          },
        };
      }
      return {
        node: c.node,
        t: 'instant',
        fn: (f) => {
          const v = s(f);
          if (v === null || v === undefined || v === '') return null;
          const pat = typeof p === 'function' ? (p(f) as DatePattern) : p;
          const zone = typeof z === 'function' ? (z(f) as Zone) : z;
          return parseWithPattern(text(v)!, pat, zone);
        },
      };
    },
  },
  parseIso: {
    sig: 'parseIso(text[, zone])',
    doc: 'The instant of ISO-8601 text (`2024-03-01`, `2024-03-01T10:15:00+01:00`, `…Z`); `zone` is needed when the text has no offset. Empty text is null.',
    group: 'date',
    min: 1,
    max: 2,
    t: 'instant',
    compile: (c) => {
      const s = c.arg(0).fn;
      const z = zoneArg(c, 1);
      return {
        node: c.node,
        t: 'instant',
        fn: (f) => {
          const v = s(f);
          if (v === null || v === undefined || v === '') return null;
          const zone = typeof z === 'function' ? (z(f) as Zone) : z;
          return parseIso(text(v)!, zone);
        },
      };
    },
  },
  fromEpoch: {
    sig: 'fromEpoch(n[, unit])',
    doc: "The instant `n` seconds (`'s'`), milliseconds (`'ms'`, default) or microseconds (`'us'`) after 1970-01-01T00:00Z.",
    group: 'date',
    min: 1,
    max: 2,
    t: 'instant',
    impl: (n, unit) => {
      const d = toDec(n === '' ? null : n);
      if (d === null) return null;
      const u = unit === undefined ? 'ms' : unit;
      const mul =
        u === 's'
          ? 1_000_000
          : u === 'ms'
            ? 1000
            : u === 'us'
              ? 1
              : fault(`fromEpoch unit must be 's', 'ms' or 'us', got ${show(unit)}`);
      const us = Dec.mul(d, Dec.ofInt(mul as number));
      const i = Dec.strip(us);
      if (Dec.scale(i) !== 0) fault(`fromEpoch: ${show(n)} ${u} is finer than a microsecond`);
      return isoOfEpochMicros(Dec.big(i));
    },
  },
  formatDate: {
    sig: "formatDate(instant, 'pattern'[, zone])",
    doc: "Wall-clock text of an instant in a zone (default UTC): `formatDate(ts, 'yyyy-MM-dd', 'Europe/Paris')` is the local business day.",
    group: 'date',
    min: 2,
    max: 3,
    t: 'text',
    compile: (c) => {
      const s = c.arg(0).fn;
      const p = datePattern(c, 1);
      const z = zoneArg(c, 2) ?? getZone('UTC')!;
      return {
        node: c.node,
        t: 'text',
        fn: (f) => {
          const v = s(f);
          if (v === null || v === undefined || v === '') return null;
          if (typeof v !== 'string') fault(`formatDate: expected an instant, got ${show(v)}`);
          const pat = typeof p === 'function' ? (p(f) as DatePattern) : p;
          const zone = typeof z === 'function' ? (z(f) as Zone) : z;
          return formatInstant(v, pat, zone);
        },
      };
    },
  },

  // ---- conditions ---------------------------------------------------------------------------------------------------
  if: {
    sig: 'if(condition, then[, else])',
    doc: '`then` when the condition is true, else `else` (default null). Only the chosen branch is evaluated.',
    group: 'condition',
    min: 2,
    max: 3,
    t: 'any',
    compile: (c) => {
      const [cf, a, b] = lazy(c);
      const test = cond(cf, 'if() condition');
      const ta = c.arg(1).t;
      const tb = c.node.args.length > 2 ? c.arg(2).t : 'null';
      const t: Ty = ta === tb || tb === 'null' ? ta : ta === 'null' ? tb : 'any';
      if (!b) return { node: c.node, t, fn: (f) => (test(f) ? a(f) : null) };
      return { node: c.node, t, fn: (f) => (test(f) ? a(f) : b(f)) };
    },
  },
  case: {
    sig: 'case(cond1, value1, cond2, value2, …[, default])',
    doc: 'The value of the first true condition; `default` (or null) when none is.',
    group: 'condition',
    min: 2,
    max: Number.POSITIVE_INFINITY,
    t: 'any',
    compile: (c) => {
      const fns = lazy(c);
      const pairs = Math.floor(fns.length / 2);
      const tests = Array.from({ length: pairs }, (_, i) => cond(fns[2 * i], `case() condition ${i + 1}`));
      const vals = Array.from({ length: pairs }, (_, i) => fns[2 * i + 1]);
      const dflt = fns.length % 2 === 1 ? fns[fns.length - 1] : null;
      return {
        node: c.node,
        t: 'any',
        fn: (f) => {
          for (let i = 0; i < pairs; i++) if (tests[i](f)) return vals[i](f);
          return dflt === null ? null : dflt(f);
        },
      };
    },
  },
  switch: {
    sig: 'switch(x, match1, value1, match2, value2, …[, default])',
    doc: "The value paired with the first match equal to `x` (`==` semantics); `default` (or null) otherwise: `switch(TYPE, 'S', 'SALE', 'R', 'RETURN', reject('unknown type ' & TYPE))`.",
    group: 'condition',
    min: 3,
    max: Number.POSITIVE_INFINITY,
    t: 'any',
    compile: (c) => {
      const fns = lazy(c);
      const x = fns[0];
      const rest = fns.length - 1;
      const pairs = Math.floor(rest / 2);
      const dflt = rest % 2 === 1 ? fns[fns.length - 1] : null;
      const matches = Array.from({ length: pairs }, (_, i) => c.arg(1 + 2 * i));
      const vals = Array.from({ length: pairs }, (_, i) => fns[2 + 2 * i]);
      if (matches.every((m) => m.konst && typeof m.konst.v === 'string')) {
        // all matches are text literals: one map probe
        const idx = new Map<string, number>();
        matches.forEach((m, i) => {
          if (!idx.has(m.konst!.v as string)) idx.set(m.konst!.v as string, i);
        });
        const consts = matches.map((m) => m.konst!.v);
        return {
          node: c.node,
          t: 'any',
          fn: (f) => {
            const v = x(f);
            if (typeof v === 'string') {
              const i = idx.get(v);
              if (i !== undefined) return vals[i](f);
            } else if (v !== null && v !== undefined) {
              for (let i = 0; i < pairs; i++) if (equals(v, consts[i])) return vals[i](f);
            }
            return dflt === null ? null : dflt(f);
          },
        };
      }
      const mfns = matches.map((m) => m.fn);
      return {
        node: c.node,
        t: 'any',
        fn: (f) => {
          const v = x(f);
          for (let i = 0; i < pairs; i++) if (equals(v, mfns[i](f))) return vals[i](f);
          return dflt === null ? null : dflt(f);
        },
      };
    },
  },

  // ---- null handling ------------------------------------------------------------------------------------------------
  coalesce: {
    sig: 'coalesce(a, b, …)',
    doc: 'The first argument that is not null, missing or empty text (same as `a ?? b ?? …`).',
    group: 'null',
    min: 1,
    max: Number.POSITIVE_INFINITY,
    t: 'any',
    compile: (c) => {
      const fns = lazy(c);
      const ts = new Set(c.node.args.map((_, i) => c.arg(i).t));
      const t: Ty = ts.size === 1 ? [...ts][0] : 'any';
      return {
        node: c.node,
        t,
        fn: (f) => {
          for (let i = 0; i < fns.length; i++) {
            const v = fns[i](f);
            if (!isAbsent(v)) return v;
          }
          return null;
        },
      };
    },
  },
  isNull: {
    sig: 'isNull(x)',
    doc: 'Whether `x` is null or missing (empty text is not null: see isEmpty).',
    group: 'null',
    min: 1,
    max: 1,
    t: 'bool',
    impl: (x) => x === null || x === undefined,
  },
  isEmpty: {
    sig: 'isEmpty(x)',
    doc: 'Whether `x` is null, missing, text of only white space, or an empty list.',
    group: 'null',
    min: 1,
    max: 1,
    t: 'bool',
    impl: (x) =>
      x === null ||
      x === undefined ||
      (typeof x === 'string' && x.trim() === '') ||
      (Array.isArray(x) && x.length === 0),
  },
  nullif: {
    sig: 'nullif(a, b)',
    doc: "Null when `a` equals `b`, else `a`: `nullif(GTIN, '0000000000000')`.",
    group: 'null',
    min: 2,
    max: 2,
    t: 'any',
    impl: (a, b) => (equals(a, b) ? null : (a ?? null)),
  },

  // ---- tables -------------------------------------------------------------------------------------------------------
  lookup: {
    sig: "lookup(table, key[, 'column'])",
    doc: "Value of a row of a `tables:` or `lookups:` entry: `lookup(stores, STORE)`, `lookup(movements, [BWART, SHKZG], 'sign')`. Without a column, the table's value column. A missing key rejects the record or gives the table's default, as the table declares.",
    group: 'table',
    min: 2,
    max: 3,
    t: 'any',
    compile: compileLookup,
  },
  has: {
    sig: 'has(table, key)',
    doc: 'Whether the table has a row for `key`.',
    group: 'table',
    min: 2,
    max: 2,
    t: 'bool',
    compile: (c) => {
      const t = resolveTable(c);
      const key = keyFn(c, t);
      return {
        node: c.node,
        t: 'bool',
        fn: (f) => {
          const k = key(f) as string | null;
          return k !== null && t.has(k);
        },
      };
    },
  },
  convert: {
    sig: 'convert(quantity, fromUnit, toUnit)',
    doc: "Converts a quantity between units declared in `units:` (`convert(QTY, UOM, 'EA')`), exactly.",
    group: 'table',
    min: 3,
    max: 3,
    t: 'num',
    compile: (c) => {
      const u = c.scope.units ?? c.error('convert() needs a units: section in the mapping');
      const [q, a, b] = lazy(c);
      for (const i of [1, 2]) {
        const k = c.arg(i).konst;
        if (k && (typeof k.v !== 'string' || !u.has(k.v)))
          c.error(`unit ${show(k.v)} is not declared in units:`, c.node.args[i]);
      }
      return { node: c.node, t: 'num', fn: (f) => u.convert(q(f), a(f), b(f)) };
    },
  },

  // ---- other --------------------------------------------------------------------------------------------------------
  reject: {
    sig: "reject('reason')",
    doc: "Rejects the record with this reason: `switch(T, 'S', 'SALE', reject('unknown type ' & T))`.",
    group: 'other',
    min: 1,
    max: 1,
    t: 'null',
    impure: true,
    impl: (msg) => fault(text(msg) ?? 'rejected by the mapping'),
  },
};
