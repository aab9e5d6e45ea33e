/**
 * Compiles a parsed copybook into a record decoder: bytes → plain object (field name → string for PIC X, exact
 * decimal string for numbers, nested objects for groups, arrays for OCCURS).
 *
 * The compiled form is a tree of closures over a shared cursor (`Ctx.pos`), so OCCURS DEPENDING ON and record
 * types of different lengths simply move the cursor. Numbers up to 15 digits are accumulated in a JS number (exact:
 * below 2^53) and formatted once; longer ones go through digit strings. Nothing here ever uses binary floating
 * point for a value with decimals.
 *
 * Bad data throws a DecodeFault with the absolute byte offset of the offending byte and the field path; the format
 * turns it into a reject.
 */
import { ConfigError } from '../../contracts/spi.ts';
import type { CharSet } from './charset.ts';
import type { Copybook, Item } from './parser.ts';

export type FieldNames = 'snake' | 'camel' | 'cobol' | 'underscore';
export type Trim = 'right' | 'both' | 'none';
export type BlankNumeric = 'null' | 'zero' | 'reject';

export interface RedefinesRule {
  /** The discriminator field (decoded before the REDEFINES set). */
  field: string;
  /** Discriminator value → name of the item (view) to decode. */
  when: Record<string, string>;
  /** View to use for any other value; without it another value rejects the record. */
  otherwise?: string;
}

export interface LayoutOptions {
  charset: CharSet;
  fieldNames: FieldNames;
  dropPrefix?: string;
  flatten: boolean;
  trim: Trim;
  blankNumeric: BlankNumeric;
  /** Use this 01 record only. */
  record?: string;
  redefines?: Record<string, RedefinesRule>;
}

export class DecodeFault extends Error {
  readonly offset: number;
  readonly field?: string;
  constructor(reason: string, offset: number, field?: string) {
    super(reason);
    this.offset = offset;
    this.field = field;
  }
}

interface Ctx {
  buf: Uint8Array;
  pos: number;
  end: number;
  /** absolute offset = buffer index + delta */
  delta: number;
  slots: unknown[];
  slotPos: number[];
}

type Read = (c: Ctx) => unknown;
type Step = (c: Ctx, out: Record<string, unknown>) => void;

export interface Layout {
  /** Bytes of the layout (the largest record type; OCCURS DEPENDING ON tables at their maximum). */
  readonly size: number;
  readonly variable: boolean;
  /** Names of the record types (01 levels) the layout may decode. */
  readonly records: readonly string[];
  /** Decode bytes [start, end) of buf as one record; `offset` is the absolute offset of buf[start]. */
  decode(
    buf: Uint8Array,
    start: number,
    end: number,
    offset: number,
  ): { value: Record<string, unknown>; consumed: number };
}

const hex = (b: number) => `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;

// ---------------------------------------------------------------------------------------------------------------
// Number formatting

const ZEROS = '000000000000000000000000000000000000000';

/** Exact decimal text of ±n / 10^scale (n a safe non-negative integer). */
export function formatNumber(neg: boolean, n: number, scale: number): string {
  let s: string;
  if (scale <= 0) s = n === 0 ? '0' : String(n) + ZEROS.slice(0, -scale);
  else {
    s = String(n);
    if (s.length <= scale) s = ZEROS.slice(0, scale - s.length + 1) + s;
    s = `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}`;
  }
  return neg && n !== 0 ? `-${s}` : s;
}

/** Same for a digit string (any length, leading zeros allowed). */
export function formatDigits(neg: boolean, digits: string, scale: number): string {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) === 48) i++;
  let s = digits.slice(i);
  const zero = s === '0';
  if (scale <= 0) s = zero ? '0' : s + ZEROS.slice(0, -scale);
  else {
    if (s.length <= scale) s = ZEROS.slice(0, scale - s.length + 1) + s;
    s = `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}`;
  }
  return neg && !zero ? `-${s}` : s;
}

// ---------------------------------------------------------------------------------------------------------------
// Names

export function fieldKey(name: string, style: FieldNames, dropPrefix?: string): string {
  let n = name;
  if (dropPrefix && n.toUpperCase().startsWith(dropPrefix.toUpperCase()) && n.length > dropPrefix.length)
    n = n.slice(dropPrefix.length);
  switch (style) {
    case 'cobol':
      return n;
    case 'underscore':
      return n.replace(/-/g, '_');
    case 'snake':
      return n.replace(/-/g, '_').toLowerCase();
    case 'camel':
      return n.toLowerCase().replace(/[-_]+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  }
}

function pathOf(it: Item): string {
  const parts: string[] = [];
  for (let x: Item | undefined = it; x && x.level > 0; x = x.parent) parts.unshift(x.name ?? 'FILLER');
  return parts.join('.');
}

function allItems(roots: readonly Item[]): Item[] {
  const out: Item[] = [];
  const walk = (it: Item) => {
    out.push(it);
    for (const c of it.children) walk(c);
  };
  for (const r of roots) walk(r);
  return out;
}

/** Resolve `NAME`, `GROUP.NAME` or `NAME OF GROUP` (case-insensitive) among items. */
function resolveName(ref: string, items: readonly Item[], what: string, file: string, prefer?: Item): Item {
  const parts = ref.includes(' OF ') || / of /i.test(ref) ? ref.split(/\s+of\s+/i).reverse() : ref.split('.');
  const want = parts.map((p) => p.trim().toUpperCase());
  const last = want[want.length - 1];
  const hits = items.filter((it) => {
    if ((it.name ?? '').toUpperCase() !== last) return false;
    let k = want.length - 2;
    for (let p = it.parent; p && k >= 0; p = p.parent) if ((p.name ?? '').toUpperCase() === want[k]) k--;
    return k < 0;
  });
  if (hits.length === 0) throw new ConfigError(`${what}: no item named ${ref} in the copybook`, { file });
  if (hits.length > 1 && prefer) {
    const inPrefer = hits.filter((h) => {
      for (let p: Item | undefined = h; p; p = p.parent) if (p === prefer) return true;
      return false;
    });
    if (inPrefer.length === 1) return inPrefer[0];
  }
  if (hits.length > 1)
    throw new ConfigError(
      `${what}: ${ref} is ambiguous (${hits.map((h) => `${pathOf(h)} at line ${h.line}`).join(', ')}); qualify it as GROUP.NAME`,
      { file },
    );
  return hits[0];
}

// ---------------------------------------------------------------------------------------------------------------

export function compileLayout(cb: Copybook, o: LayoutOptions): Layout {
  const cs = o.charset;
  const file = cb.file;
  const items = allItems(cb.records);
  const order = new Map<Item, number>();
  for (let i = 0; i < items.length; i++) order.set(items[i], i);
  const loc = (it: Item) => ({ file, line: it.line, column: it.column });
  const key = (it: Item) => fieldKey(it.name!, o.fieldNames, o.dropPrefix);

  // Slots: items whose decoded value later decisions need (OCCURS DEPENDING ON counts, REDEFINES discriminators).
  const slotOf = new Map<Item, number>();
  const slot = (it: Item) => {
    let k = slotOf.get(it);
    if (k === undefined) slotOf.set(it, (k = slotOf.size));
    return k;
  };

  // REDEFINES rules by the item they name (any member of the set).
  const rules = new Map<Item, { rule: RedefinesRule; optionKey: string }>();
  for (const [name, rule] of Object.entries(o.redefines ?? {})) {
    const it = resolveName(name, items, `redefines.${name}`, file);
    const base = it.redefines ? baseOf(it) : it;
    if (!base.redefinedBy.length && !cb.records.includes(base))
      throw new ConfigError(`redefines.${name}: ${pathOf(it)} is not redefined by anything (no REDEFINES names it)`, {
        file,
      });
    rules.set(base, { rule, optionKey: name });
  }
  // Slots are assigned before any reader is compiled, so the readers of counts and discriminators record values.
  for (const it of items) {
    if (it.occurs?.dependingOn)
      slot(
        resolveName(
          it.occurs.dependingOn,
          items,
          `OCCURS DEPENDING ON ${it.occurs.dependingOn} (line ${it.occurs.line})`,
          file,
          recordOf(it),
        ),
      );
  }
  for (const [base, { rule, optionKey }] of rules)
    slot(resolveName(rule.field, items, `redefines.${optionKey}.field`, file, recordOf(base)));

  function baseOf(it: Item): Item {
    const sibs = it.parent ? it.parent.children : cb.records;
    return sibs.find((s) => !s.redefines && (s.name ?? '').toUpperCase() === it.redefines!.toUpperCase()) ?? it;
  }

  // ---- elementary readers ------------------------------------------------------------------------------------

  const truncated = (c: Ctx, it: Item, need: number): never => {
    throw new DecodeFault(
      `record too short: ${pathOf(it)} needs bytes ${c.pos + c.delta}–${c.pos + c.delta + need - 1} but the record ends at offset ${c.end + c.delta} (truncated record or length mismatch)`,
      c.pos + c.delta,
      pathOf(it),
    );
  };

  const blank = (buf: Uint8Array, p: number, n: number): boolean => {
    const b0 = buf[p];
    if (b0 !== cs.space && b0 !== 0) return false;
    for (let i = p + 1; i < p + n; i++) if (buf[i] !== b0) return false;
    return true;
  };

  function blankValue(c: Ctx, it: Item, p: number, scale: number): unknown {
    if (o.blankNumeric === 'null') return null;
    if (o.blankNumeric === 'zero') return formatNumber(false, 0, scale);
    throw new DecodeFault(
      `blank numeric field ${pathOf(it)} (all ${c.buf[p] === 0 ? 'low-values 0x00' : 'spaces'}) at offset ${p + c.delta}; set blankNumeric: null or zero to accept it`,
      p + c.delta,
      pathOf(it),
    );
  }

  function textReader(it: Item): Read {
    const n = it.size;
    const chars = cs.chars;
    const sp = cs.space;
    const trimR = o.trim !== 'none';
    const trimL = o.trim === 'both';
    return (c) => {
      const p = c.pos;
      if (p + n > c.end) truncated(c, it, n);
      c.pos = p + n;
      const buf = c.buf;
      let a = p;
      let b = p + n;
      if (trimR) while (b > a && buf[b - 1] === sp) b--;
      if (trimL) while (a < b && buf[a] === sp) a++;
      let s = '';
      for (let i = a; i < b; i++) s += chars[buf[i]];
      return s;
    };
  }

  function zonedReader(it: Item): Read {
    const pic = it.pic!;
    const n = it.size;
    const digits = pic.digits;
    const scale = pic.scale;
    const signed = pic.signed;
    const sep = !!it.sign?.separate;
    const leading = !!it.sign?.leading;
    const { digit, signDigit } = cs;
    const path = pathOf(it);
    const big = digits > 15;
    return (c) => {
      const p = c.pos;
      if (p + n > c.end) truncated(c, it, n);
      const buf = c.buf;
      c.pos = p + n;
      if (blank(buf, p, n)) return blankValue(c, it, p, scale);
      let neg = false;
      let first = p;
      let last = p + n - 1; // inclusive range of digit bytes
      let signAt = -1;
      if (sep) {
        const sb = leading ? buf[p] : buf[p + n - 1];
        if (sb === cs.minus) neg = true;
        else if (sb !== cs.plus)
          throw new DecodeFault(
            `invalid sign byte ${hex(sb)} in ${path} at offset ${(leading ? p : p + n - 1) + c.delta} (expected '+' or '-')`,
            (leading ? p : p + n - 1) + c.delta,
            path,
          );
        if (leading) first++;
        else last--;
      } else signAt = leading ? p : p + n - 1;
      let v = 0;
      let ds = '';
      for (let i = first; i <= last; i++) {
        const b = buf[i];
        let d: number;
        if (i === signAt || (!signed && i === last && digit[b] < 0)) {
          d = signDigit[b];
          if (d < 0)
            throw new DecodeFault(
              `invalid zoned decimal sign byte ${hex(b)} in ${path} at offset ${i + c.delta}`,
              i + c.delta,
              path,
            );
          if (d >= 10) {
            if (!signed)
              throw new DecodeFault(
                `negative sign ${hex(b)} in unsigned ${path} (PIC ${pic.text}) at offset ${i + c.delta}`,
                i + c.delta,
                path,
              );
            neg = true;
            d -= 10;
          }
        } else {
          d = digit[b];
          if (d < 0)
            throw new DecodeFault(
              `invalid zoned decimal digit ${hex(b)} in ${path} at offset ${i + c.delta}${cs.ebcdic && b >= 0x30 && b <= 0x39 ? ' (looks like ASCII: wrong code page?)' : ''}`,
              i + c.delta,
              path,
            );
        }
        if (big) ds += d;
        else v = v * 10 + d;
      }
      void digits;
      return big ? formatDigits(neg, ds, scale) : formatNumber(neg, v, scale);
    };
  }

  function packedReader(it: Item): Read {
    const pic = it.pic!;
    const n = it.size;
    const scale = pic.scale;
    const signed = pic.signed;
    const path = pathOf(it);
    const big = n * 2 - 1 > 15;
    return (c) => {
      const p = c.pos;
      if (p + n > c.end) truncated(c, it, n);
      const buf = c.buf;
      c.pos = p + n;
      if (o.blankNumeric !== 'reject' && blank(buf, p, n)) return blankValue(c, it, p, scale);
      let v = 0;
      let ds = '';
      const lastByte = p + n - 1;
      for (let i = p; i < lastByte; i++) {
        const b = buf[i];
        const hi = b >> 4;
        const lo = b & 15;
        if (hi > 9 || lo > 9)
          throw new DecodeFault(
            `invalid packed decimal nibble ${hex(b)} in ${path} at offset ${i + c.delta}`,
            i + c.delta,
            path,
          );
        if (big) ds += String.fromCharCode(48 + hi, 48 + lo);
        else v = v * 100 + hi * 10 + lo;
      }
      const b = buf[lastByte];
      const hi = b >> 4;
      const sign = b & 15;
      if (hi > 9)
        throw new DecodeFault(
          `invalid packed decimal nibble ${hex(b)} in ${path} at offset ${lastByte + c.delta}`,
          lastByte + c.delta,
          path,
        );
      let neg = false;
      if (sign === 0xd || sign === 0xb) {
        if (!signed)
          throw new DecodeFault(
            `negative sign nibble ${hex(b)} in unsigned ${path} (PIC ${pic.text}) at offset ${lastByte + c.delta}`,
            lastByte + c.delta,
            path,
          );
        neg = true;
      } else if (sign < 0xa)
        throw new DecodeFault(
          `invalid packed decimal sign nibble ${hex(b)} in ${path} at offset ${lastByte + c.delta} (expected C, D or F)`,
          lastByte + c.delta,
          path,
        );
      if (big) return formatDigits(neg, ds + String.fromCharCode(48 + hi), scale);
      return formatNumber(neg, v * 10 + hi, scale);
    };
  }

  function binaryReader(it: Item): Read {
    const pic = it.pic!;
    const n = it.size;
    const scale = pic.scale;
    const signed = pic.signed;
    return (c) => {
      const p = c.pos;
      if (p + n > c.end) truncated(c, it, n);
      const buf = c.buf;
      c.pos = p + n;
      if (n === 2) {
        let v = (buf[p] << 8) | buf[p + 1];
        if (signed && v >= 0x8000) v -= 0x10000;
        return formatNumber(v < 0, Math.abs(v), scale);
      }
      if (n === 4) {
        let v = buf[p] * 0x1000000 + ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]);
        if (signed && v >= 0x80000000) v -= 0x100000000;
        return formatNumber(v < 0, Math.abs(v), scale);
      }
      let v = 0n;
      for (let i = p; i < p + 8; i++) v = (v << 8n) | BigInt(buf[i]);
      if (signed && v >= 0x8000000000000000n) v -= 0x10000000000000000n;
      const neg = v < 0n;
      return formatDigits(neg, (neg ? -v : v).toString(), scale);
    };
  }

  function elementary(it: Item): Read {
    const pic = it.pic!;
    let r: Read;
    if (pic.kind !== 'numeric') r = textReader(it);
    else if (it.usage === 'display') r = zonedReader(it);
    else if (it.usage === 'packed') r = packedReader(it);
    else r = binaryReader(it);
    const k = slotOf.get(it);
    if (k === undefined) return r;
    return (c) => {
      const at = c.pos;
      const v = r(c);
      c.slots[k] = v;
      c.slotPos[k] = at + c.delta;
      return v;
    };
  }

  // ---- groups ------------------------------------------------------------------------------------------------

  type Keys = Map<string, Item>;
  const claimKey = (keys: Keys, k: string, it: Item) => {
    const prev = keys.get(k);
    if (prev)
      throw new ConfigError(
        `two fields decode to the same name '${k}': ${pathOf(prev)} (line ${prev.line}) and ${pathOf(it)}${o.flatten ? ' (flatten: true puts every field at the top level)' : ''}; rename one or use fieldNames/dropPrefix`,
        loc(it),
      );
    keys.set(k, it);
  };

  /** Reader of one item (one occurrence), as a value. */
  function valueReader(it: Item): Read {
    if (!it.children.length) return elementary(it);
    const fast = literalBuilder(it);
    if (fast) return fast;
    const fill = groupFill(it, new Map());
    return (c) => {
      const obj: Record<string, unknown> = {};
      fill(c, obj);
      return obj;
    };
  }

  /** Step that decodes `it` (with its OCCURS) into `out`. */
  function itemStep(it: Item, keys: Keys): Step {
    if (it.name === null && !it.variable && !slotOf.has(it)) {
      const n = it.size * (it.occurs ? it.occurs.max : 1);
      if (!it.occurs?.dependingOn) {
        // FILLER: skipped, not decoded.
        return (c) => {
          if (c.pos + n > c.end) truncated(c, it, n);
          c.pos += n;
        };
      }
    }
    if (!it.occurs && it.children.length && (o.flatten || it.name === null)) {
      // Flattened group: its fields go straight into `out`.
      const fill = groupFill(it, keys);
      return fill;
    }
    const k = it.name === null ? null : key(it);
    if (k !== null) claimKey(keys, k, it);
    const read = valueReader(it);
    if (!it.occurs) {
      if (k === null) return (c) => void read(c);
      return (c, out) => {
        out[k] = read(c);
      };
    }
    const occ = it.occurs;
    if (!occ.dependingOn) {
      const count = occ.max;
      return (c, out) => {
        const arr = new Array(count);
        for (let i = 0; i < count; i++) arr[i] = read(c);
        if (k !== null) out[k] = arr;
      };
    }
    const dep = resolveName(
      occ.dependingOn,
      items,
      `OCCURS DEPENDING ON ${occ.dependingOn} (line ${occ.line})`,
      file,
      recordOf(it),
    );
    if (dep.children.length || dep.pic?.kind !== 'numeric')
      throw new ConfigError(`OCCURS DEPENDING ON ${occ.dependingOn}: it must be a numeric elementary item`, {
        file,
        line: occ.line,
        column: occ.column,
      });
    if (order.get(dep)! > order.get(it)!)
      throw new ConfigError(`OCCURS DEPENDING ON ${occ.dependingOn}: the count must come before the table`, {
        file,
        line: occ.line,
        column: occ.column,
      });
    const ds = slot(dep);
    const depPath = pathOf(dep);
    return (c, out) => {
      const raw = c.slots[ds];
      const count = typeof raw === 'string' ? Number(raw) : Number.NaN;
      if (!Number.isInteger(count) || count < occ.min || count > occ.max)
        throw new DecodeFault(
          `OCCURS DEPENDING ON ${depPath} = ${raw === undefined ? 'not decoded' : JSON.stringify(raw)} is outside ${occ.min}..${occ.max} (${pathOf(it)} at offset ${c.pos + c.delta})`,
          c.slotPos[ds] ?? c.pos + c.delta,
          depPath,
        );
      const arr = new Array(count);
      for (let i = 0; i < count; i++) arr[i] = read(c);
      if (k !== null) out[k] = arr;
    };
  }

  function recordOf(it: Item): Item {
    let r = it;
    while (r.parent && r.parent.level > 0) r = r.parent;
    return r;
  }

  /** Step for a REDEFINES set: the base item and the items that redefine it. */
  function redefinesStep(base: Item, keys: Keys): Step {
    const members = [base, ...base.redefinedBy];
    for (const m of members)
      if (m.variable || m.occurs?.dependingOn)
        throw new ConfigError('OCCURS DEPENDING ON inside a REDEFINES view is not supported', loc(m));
    const setSize = Math.max(...members.map((m) => m.size * (m.occurs ? m.occurs.max : 1)));
    const r = rules.get(base);
    const branchKeys = members.map(() => new Map(keys));
    const steps = members.map((m, i) => itemStep(m, branchKeys[i]));
    // Merge keys: with a selector only one view is present, so views may share names.
    for (const bk of branchKeys)
      for (const [k, it] of bk) {
        if (keys.get(k) === it) continue;
        if (!r) claimKey(keys, k, it);
        else if (!keys.has(k)) keys.set(k, it);
      }
    if (!r) {
      // No selector: the base view is authoritative; other views are decoded when they can be (null otherwise).
      const altKeys = base.redefinedBy.map((m) => (m.name === null ? null : key(m)));
      return (c, out) => {
        const start = c.pos;
        if (start + setSize > c.end) truncated(c, base, setSize);
        steps[0](c, out);
        for (let i = 1; i < steps.length; i++) {
          c.pos = start;
          try {
            steps[i](c, out);
          } catch (err) {
            if (!(err instanceof DecodeFault)) throw err;
            const k = altKeys[i - 1];
            if (k !== null && !o.flatten) out[k] = null;
          }
        }
        c.pos = start + setSize;
      };
    }
    const select = selector(r.rule, r.optionKey, members, base);
    return (c, out) => {
      const start = c.pos;
      const i = select(c);
      steps[i](c, out);
      c.pos = start + setSize;
    };
  }

  function selector(
    rule: RedefinesRule,
    optionKey: string,
    members: Item[],
    base: Item,
    topLevel = false,
  ): (c: Ctx) => number {
    const what = `redefines.${optionKey}`;
    const disc = resolveName(rule.field, items, `${what}.field`, file, recordOf(base));
    if (disc.children.length)
      throw new ConfigError(`${what}.field: ${rule.field} is a group; name an elementary item`, { file });
    if (!topLevel && (order.get(disc)! > order.get(base)! || members.some((m) => isWithin(disc, m))))
      throw new ConfigError(`${what}.field: ${rule.field} must come before ${pathOf(base)} in the record`, { file });
    const ds = slot(disc);
    const byName = (n: string, where: string) => {
      const i = members.findIndex((m) => (m.name ?? '').toUpperCase() === n.toUpperCase());
      if (i < 0)
        throw new ConfigError(`${where}: ${n} is not one of ${members.map((m) => m.name ?? 'FILLER').join(', ')}`, {
          file,
        });
      return i;
    };
    const table = new Map<string, number>();
    for (const [v, n] of Object.entries(rule.when)) table.set(normDisc(v), byName(n, `${what}.when.${v}`));
    const otherwise = rule.otherwise === undefined ? -1 : byName(rule.otherwise, `${what}.otherwise`);
    const discPath = pathOf(disc);
    const expected = [...Object.keys(rule.when)].map((v) => `'${v}'`).join(', ');
    return (c) => {
      const v = c.slots[ds];
      const i = table.get(normDisc(v == null ? '' : String(v)));
      if (i !== undefined) return i;
      if (otherwise >= 0) return otherwise;
      throw new DecodeFault(
        `unknown REDEFINES discriminator ${discPath} = ${JSON.stringify(v)} at offset ${c.slotPos[ds] ?? c.pos + c.delta} for ${pathOf(base)} (expected ${expected})`,
        c.slotPos[ds] ?? c.pos + c.delta,
        discPath,
      );
    };
  }

  function groupFill(g: Item, keys: Keys): Step {
    const steps: Step[] = [];
    for (const ch of g.children) {
      if (ch.redefines) continue;
      steps.push(ch.redefinedBy.length ? redefinesStep(ch, keys) : itemStep(ch, keys));
    }
    const n = steps.length;
    if (n === 1) return steps[0];
    if (n === 2) {
      const [a, b] = steps;
      return (c, out) => {
        a(c, out);
        b(c, out);
      };
    }
    return (c, out) => {
      for (let i = 0; i < n; i++) steps[i](c, out);
    };
  }

  /**
   * Fast path: a group with no OCCURS and no REDEFINES compiles to one function that returns an object literal
   * (fields in copybook order, FILLER skipped), so every record gets the same hidden class. Undefined when the
   * group does not qualify (it then goes through the general steps).
   */
  function literalBuilder(g: Item): ((c: Ctx) => Record<string, unknown>) | undefined {
    const fns: unknown[] = [];
    const props: string[] = [];
    let pendingSkip: string[] = [];
    const keys: Keys = new Map();
    const add = (f: unknown) => {
      fns.push(f);
      return `f${fns.length - 1}`;
    };
    const walk = (grp: Item): boolean => {
      for (const ch of grp.children) {
        if (ch.redefines || ch.redefinedBy.length || ch.occurs || ch.variable) return false;
        if (ch.name === null && !ch.children.length) {
          const n = ch.size;
          const it = ch;
          pendingSkip.push(
            `${add((c: Ctx) => {
              if (c.pos + n > c.end) truncated(c, it, n);
              c.pos += n;
            })}(c)`,
          );
          continue;
        }
        if (ch.children.length && (o.flatten || ch.name === null)) {
          if (!walk(ch)) return false;
          continue;
        }
        const k = key(ch);
        claimKey(keys, k, ch);
        let read: unknown;
        if (ch.children.length) {
          const sub = literalBuilder(ch);
          if (!sub) return false;
          read = sub;
        } else read = elementary(ch);
        const call = `${add(read)}(c)`;
        props.push(`${JSON.stringify(k)}: ${pendingSkip.length ? `(${[...pendingSkip, call].join(', ')})` : call}`);
        pendingSkip = [];
      }
      return true;
    };
    if (!walk(g)) return undefined;
    const names = fns.map((_, i) => `f${i}`);
    const body = pendingSkip.length
      ? `const o = { ${props.join(', ')} }; ${pendingSkip.join('; ')}; return o;`
      : `return { ${props.join(', ')} };`;
    const make = new Function(...names, `return function build(c) { ${body} };`) as (
      ...f: unknown[]
    ) => (c: Ctx) => Record<string, unknown>;
    return make(...fns);
  }

  // ---- records -----------------------------------------------------------------------------------------------

  let records = cb.records;
  if (o.record) {
    const want = o.record.toUpperCase();
    const r = records.find((x) => (x.name ?? '').toUpperCase() === want);
    if (!r)
      throw new ConfigError(
        `record: ${o.record} is not a record (01 level) of the copybook (records: ${records.map((x) => x.name).join(', ')})`,
        { file },
      );
    records = [r];
  }
  const recordReader = (r: Item): Step => {
    if (r.children.length) return groupFill(r, new Map());
    const k = key(r);
    const read = elementary(r);
    return (c, out) => {
      out[k] = read(c);
    };
  };

  let decodeInto: Step;
  let build: ((c: Ctx) => Record<string, unknown>) | undefined;
  if (records.length === 1) {
    if (records[0].children.length) build = literalBuilder(records[0]);
    decodeInto = build ? () => undefined : recordReader(records[0]);
  } else {
    // Several 01 records: a record-type discriminator chooses (declared under `redefines`, keyed by a record name).
    const entry = [...rules.entries()].find(([it]) => records.includes(it));
    if (!entry)
      throw new ConfigError(
        `the copybook has ${records.length} records (${records.map((r) => r.name).join(', ')}): choose one with \`record:\`, or select by a record-type field with \`redefines: { ${records[0].name}: { field: ..., when: {...} } }\``,
        { file },
      );
    const [, { rule, optionKey }] = entry;
    const what = `redefines.${optionKey}`;
    const disc = resolveName(rule.field, items, `${what}.field`, file, records[0]);
    const at = staticOffset(disc);
    if (at === undefined)
      throw new ConfigError(
        `${what}.field: ${rule.field} must be at a fixed offset (not after OCCURS DEPENDING ON, not inside OCCURS)`,
        { file },
      );
    const ds = slot(disc);
    const discRead = elementary(disc);
    const readers = records.map(recordReader);
    const sel = selector(rule, optionKey, records, records[0], true);
    decodeInto = (c, out) => {
      const start = c.pos;
      c.pos = start + at;
      discRead(c);
      c.pos = start;
      const i = sel(c);
      readers[i](c, out);
    };
    void ds;
  }

  function staticOffset(it: Item): number | undefined {
    let off = 0;
    for (let x: Item = it; x.parent && x.parent.level >= 0; x = x.parent) {
      if (x.occurs) return undefined;
      const sibs = x.parent.children;
      const base = x.redefines ? baseOf(x) : x;
      for (const s of sibs) {
        if (s === base) break;
        if (s.redefines) continue;
        if (s.variable || s.occurs?.dependingOn) return undefined;
        off += Math.max(s.size, ...s.redefinedBy.map((r) => r.size)) * (s.occurs ? s.occurs.max : 1);
      }
      if (x.parent.level === 0) break;
    }
    return off;
  }

  function isWithin(x: Item, anc: Item): boolean {
    for (let p: Item | undefined = x; p; p = p.parent) if (p === anc) return true;
    return false;
  }

  const nSlots = () => slotOf.size;
  const ctx: Ctx = { buf: new Uint8Array(0), pos: 0, end: 0, delta: 0, slots: [], slotPos: [] };
  const size = Math.max(...records.map((r) => r.size));
  return {
    size,
    variable: records.some((r) => r.variable) || new Set(records.map((r) => r.size)).size > 1,
    records: records.map((r) => r.name ?? 'FILLER'),
    decode(buf, start, end, offset) {
      const c = ctx;
      c.buf = buf;
      c.pos = start;
      c.end = end;
      c.delta = offset - start;
      if (nSlots()) {
        c.slots.length = 0;
        c.slotPos.length = 0;
      }
      if (build) {
        const v = build(c);
        return { value: v, consumed: c.pos - start };
      }
      const value: Record<string, unknown> = {};
      decodeInto(c, value);
      return { value, consumed: c.pos - start };
    },
  };
}

function normDisc(v: string): string {
  const t = v.trim();
  return /^[+-]?\d+(\.\d+)?$/.test(t) ? String(Number(t)) : t;
}
