/**
 * Dates and times for the mapping language: explicit-format parsing with a time zone, ISO-8601 and epoch input,
 * formatting; instants are represented as canonical ISO-8601 UTC strings (`2024-03-01T08:15:00.000Z`, or 6 fraction
 * digits when the input had microseconds), which is also what `occurredAt` needs.
 *
 * Speed: formats are compiled once into a token list read with charCodeAt (no regex, no Date); the wall-clock to UTC
 * resolution goes through Intl only on a cache miss: offsets are cached per zone and local hour (and the UTC
 * `yyyy-MM-ddTHH:` prefix with them when the offset is whole hours), checked at fill time to be valid for the whole
 * hour. DST policy, as java.time: a wall time in a gap (spring forward) is moved forward by the gap; an ambiguous
 * wall time (fall back) takes the earlier instant (the summer offset).
 */
import { fault } from './fault.ts';

const MS_HOUR = 3_600_000;
const MS_DAY = 86_400_000;

const PAD2: string[] = [];
for (let i = 0; i < 100; i++) PAD2.push(i < 10 ? `0${i}` : String(i));
const PAD3: string[] = [];
for (let i = 0; i < 1000; i++) PAD3.push(String(i).padStart(3, '0'));
/** `mm:ss.000Z` for every minute and second of an hour: the tail of most instants is one table read. */
const TAIL0: string[] = [];
for (let i = 0; i < 3600; i++) TAIL0.push(`${PAD2[Math.floor(i / 60)]}:${PAD2[i % 60]}.000Z`);

export const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1];
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** [year, month, day] of a day number. */
function civilFromDays(z: number, out: number[]): void {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  out[0] = yoe + era * 400 + (m <= 2 ? 1 : 0);
  out[1] = m;
  out[2] = d;
}

const civ = [0, 0, 0];

function year4(y: number): string {
  if (y < 1 || y > 9999) fault(`year ${y} is outside 0001-9999`);
  return y >= 1000 ? String(y) : String(y).padStart(4, '0');
}

/** `yyyy-MM-ddTHH:` of the UTC hour containing `ms`. */
function utcHourPrefix(ms: number): string {
  const days = Math.floor(ms / MS_DAY);
  civilFromDays(days, civ);
  const h = Math.floor((ms - days * MS_DAY) / MS_HOUR);
  return `${year4(civ[0])}-${PAD2[civ[1]]}-${PAD2[civ[2]]}T${PAD2[h]}:`;
}

/** Canonical instant text of epoch milliseconds (+ optional extra microseconds 0-999 for 6-digit output). */
export function isoOfMillis(ms: number, micros = -1): string {
  const hourStart = Math.floor(ms / MS_HOUR) * MS_HOUR;
  const rest = ms - hourStart;
  const mi = Math.floor(rest / 60_000);
  const s = Math.floor((rest - mi * 60_000) / 1000);
  const f = rest - mi * 60_000 - s * 1000;
  return `${utcHourPrefix(hourStart)}${PAD2[mi]}:${PAD2[s]}.${PAD3[f]}${micros >= 0 ? PAD3[micros] : ''}Z`;
}

// ---------------------------------------------------------------------------------------------------------------
// Time zones

interface HourEntry {
  off: number;
  prefix: string | null;
}

export class Zone {
  readonly name: string;
  /** Set for fixed-offset zones (UTC, +02:00): no Intl needed. */
  readonly fixed: number | undefined;
  readonly #dtf: Intl.DateTimeFormat | undefined;
  // per local hour index: the offset to subtract (NaN when the hour straddles a transition) and, for whole-hour
  // offsets, the UTC `yyyy-MM-ddTHH:` prefix of that hour
  #cache = new Map<number, HourEntry>();
  #lastKey = Number.NaN;
  #last: HourEntry = { off: 0, prefix: null };

  constructor(name: string, fixed: number | undefined, dtf: Intl.DateTimeFormat | undefined) {
    this.name = name;
    this.fixed = fixed;
    this.#dtf = dtf;
  }

  /** UTC offset (ms, east positive) in force at a UTC instant. */
  offsetAt(utcMs: number): number {
    if (this.fixed !== undefined) return this.fixed;
    const parts = this.#dtf!.formatToParts(utcMs);
    let y = 0;
    let mo = 0;
    let d = 0;
    let h = 0;
    let mi = 0;
    let s = 0;
    for (const p of parts) {
      switch (p.type) {
        case 'year':
          y = +p.value;
          break;
        case 'month':
          mo = +p.value;
          break;
        case 'day':
          d = +p.value;
          break;
        case 'hour':
          h = +p.value;
          break;
        case 'minute':
          mi = +p.value;
          break;
        case 'second':
          s = +p.value;
          break;
      }
    }
    const local = daysFromCivil(y, mo, d) * MS_DAY + h * MS_HOUR + mi * 60_000 + s * 1000;
    return local - (utcMs - (((utcMs % 1000) + 1000) % 1000));
  }

  /** The offset to subtract from a wall-clock time (as if UTC) to get the instant, with the DST policy above. */
  resolve(localMs: number): number {
    if (this.fixed !== undefined) return this.fixed;
    const oa = this.offsetAt(localMs - 15 * MS_HOUR);
    const ob = this.offsetAt(localMs + 15 * MS_HOUR);
    if (oa === ob) {
      // no transition in the window (transitions are months apart)
      return oa;
    }
    const aOk = this.offsetAt(localMs - oa) === oa;
    const bOk = this.offsetAt(localMs - ob) === ob;
    if (aOk && bOk) return Math.max(oa, ob); // overlap: earlier instant = larger offset
    if (aOk) return oa;
    if (bOk) return ob;
    return oa; // gap: use the offset before the transition, which moves the time forward by the gap
  }

  /** The cache entry of a local hour (local hour index = days * 24 + hour). */
  hour(hourKey: number): HourEntry {
    if (hourKey === this.#lastKey) return this.#last;
    let e = this.#cache.get(hourKey);
    if (e === undefined) {
      const start = hourKey * MS_HOUR;
      const o1 = this.resolve(start);
      const o2 = this.resolve(start + MS_HOUR - 1);
      const off = o1 === o2 ? o1 : Number.NaN;
      e = { off, prefix: off % MS_HOUR === 0 ? utcHourPrefix(start - off) : null };
      if (this.#cache.size > 100_000) this.#cache.clear();
      this.#cache.set(hourKey, e);
    }
    this.#lastKey = hourKey;
    this.#last = e;
    return e;
  }

  /**
   * The canonical ISO text for a wall-clock time in this zone. Fast path: whole-hour offsets reuse the cached UTC
   * hour prefix and append minutes, seconds and fraction (one table read when the fraction is zero).
   */
  isoOfLocal(days: number, h: number, mi: number, s: number, ms: number, micros: number): string {
    const hourKey = days * 24 + h;
    const e = this.hour(hourKey);
    const p = e.prefix;
    if (p !== null) {
      if (ms === 0 && micros < 0) return p + TAIL0[mi * 60 + s];
      return `${p}${PAD2[mi]}:${PAD2[s]}.${PAD3[ms]}${micros >= 0 ? PAD3[micros] : ''}Z`;
    }
    const inHour = mi * 60_000 + s * 1000 + ms;
    const off = Number.isNaN(e.off) ? this.resolve(hourKey * MS_HOUR + inHour) : e.off;
    return isoOfMillis(hourKey * MS_HOUR + inHour - off, micros);
  }
}

const zones = new Map<string, Zone | null>();
const OFFSET_RE = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$/;

/** A zone by IANA name (`Europe/Paris`), `UTC`/`Z`, or a fixed offset (`+02:00`, `-0500`); null when unknown. */
export function getZone(name: string): Zone | null {
  let z = zones.get(name);
  if (z !== undefined) return z;
  z = makeZone(name);
  if (zones.size > 1000) zones.clear();
  zones.set(name, z);
  return z;
}

function makeZone(name: string): Zone | null {
  if (name === 'UTC' || name === 'Z' || name === 'GMT' || name === 'Etc/UTC') return new Zone('UTC', 0, undefined);
  const m = OFFSET_RE.exec(name);
  if (m) {
    const h = +m[2];
    const mi = m[3] ? +m[3] : 0;
    if (h > 18 || mi > 59) return null;
    return new Zone(name, (m[1] === '-' ? -1 : 1) * (h * MS_HOUR + mi * 60_000), undefined);
  }
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(name)) return null;
  try {
    const dtf = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    return new Zone(dtf.resolvedOptions().timeZone, undefined, dtf);
  } catch {
    return null;
  }
}

export function zoneOrFault(name: unknown): Zone {
  if (typeof name !== 'string') fault(`time zone must be text, got ${name === null ? 'null' : typeof name}`);
  const z = getZone(name);
  if (!z) fault(`unknown time zone ${JSON.stringify(name)}`);
  return z;
}

// ---------------------------------------------------------------------------------------------------------------
// Format patterns

const enum_ = {
  LIT: 0,
  YEAR4: 1,
  YEAR2: 2,
  MONTH: 3,
  MONTH_NAME: 4,
  DAY: 5,
  HOUR: 6,
  HOUR12: 7,
  MINUTE: 8,
  SECOND: 9,
  FRACTION: 10,
  AMPM: 11,
  OFFSET: 12,
} as const;

interface Token {
  kind: number;
  /** LIT: the text; OFFSET: the pattern letters. */
  text: string;
  /** Digits: exact width, or 0 for 1-2 digits. FRACTION: digit count. MONTH_NAME: 3 = short, 4 = full. */
  width: number;
}

export class DatePattern {
  readonly pattern: string;
  readonly tokens: readonly Token[];
  readonly hasOffset: boolean;
  readonly hasTime: boolean;
  readonly micros: boolean;
  constructor(pattern: string, tokens: Token[]) {
    this.pattern = pattern;
    this.tokens = tokens;
    this.hasOffset = tokens.some((t) => t.kind === enum_.OFFSET);
    this.hasTime = tokens.some((t) => t.kind === enum_.HOUR || t.kind === enum_.HOUR12);
    this.micros = tokens.some((t) => t.kind === enum_.FRACTION && t.width > 3);
    this.fixed = fixedLayout(tokens);
  }
  /** Positions of every field when all tokens have a fixed width (the fast path), else null. */
  readonly fixed: FixedLayout | null;
}

/** Field positions of a fixed-width pattern (-1: absent). */
interface FixedLayout {
  length: number;
  year: number;
  year2: boolean;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  frac: number;
  fracWidth: number;
  /** Literal characters: position, char code, position, char code... */
  lits: Int32Array;
}

function fixedLayout(tokens: readonly Token[]): FixedLayout | null {
  const l: FixedLayout = {
    length: 0,
    year: -1,
    year2: false,
    month: -1,
    day: -1,
    hour: -1,
    minute: -1,
    second: -1,
    frac: -1,
    fracWidth: 0,
    lits: new Int32Array(0),
  };
  const lits: number[] = [];
  let pos = 0;
  for (const t of tokens) {
    switch (t.kind) {
      case enum_.LIT:
        for (let i = 0; i < t.text.length; i++) lits.push(pos + i, t.text.charCodeAt(i));
        pos += t.text.length;
        continue;
      case enum_.YEAR4:
      case enum_.YEAR2:
        if (l.year >= 0) return null;
        l.year = pos;
        l.year2 = t.kind === enum_.YEAR2;
        break;
      case enum_.MONTH:
        if (t.width !== 2 || l.month >= 0) return null;
        l.month = pos;
        break;
      case enum_.DAY:
        if (t.width !== 2 || l.day >= 0) return null;
        l.day = pos;
        break;
      case enum_.HOUR:
        if (t.width !== 2 || l.hour >= 0) return null;
        l.hour = pos;
        break;
      case enum_.MINUTE:
        if (t.width !== 2 || l.minute >= 0) return null;
        l.minute = pos;
        break;
      case enum_.SECOND:
        if (t.width !== 2 || l.second >= 0) return null;
        l.second = pos;
        break;
      case enum_.FRACTION:
        if (l.frac >= 0 || t.width > 3) return null;
        l.frac = pos;
        l.fracWidth = t.width;
        break;
      default:
        return null; // month names, AM/PM, offsets, 1-2 digit fields: the general scanner
    }
    pos += t.width;
  }
  l.length = pos;
  l.lits = Int32Array.from(lits);
  return l;
}

/** Character i of the text a + b, without building it (a concatenation would be a rope V8 must flatten). */
function cc(a: string, la: number, b: string, i: number): number {
  return i < la ? a.charCodeAt(i) : b.charCodeAt(i - la);
}

function d2(a: string, la: number, b: string, i: number): number {
  const x = cc(a, la, b, i) - 48;
  const y = cc(a, la, b, i + 1) - 48;
  return x >= 0 && x <= 9 && y >= 0 && y <= 9 ? x * 10 + y : -1;
}

/**
 * Fast path for fixed-width patterns, reading the text a + b (b may be empty); null when anything is off (the general
 * scanner then reports the error).
 */
function parseFixed(a: string, b: string, l: FixedLayout, zone: Zone): string | null {
  const la = a.length;
  if (la + b.length !== l.length) return null;
  const lits = l.lits;
  for (let i = 0; i < lits.length; i += 2) if (cc(a, la, b, lits[i]) !== lits[i + 1]) return null;
  let y = 1970;
  if (l.year >= 0) {
    const c = d2(a, la, b, l.year);
    if (c < 0) return null;
    if (l.year2) y = 2000 + c;
    else {
      const e = d2(a, la, b, l.year + 2);
      if (e < 0) return null;
      y = c * 100 + e;
      if (y < 1) return null;
    }
  }
  const mo = l.month >= 0 ? d2(a, la, b, l.month) : 1;
  const d = l.day >= 0 ? d2(a, la, b, l.day) : 1;
  if (mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo - 1])) return null;
  const h = l.hour >= 0 ? d2(a, la, b, l.hour) : 0;
  const mi = l.minute >= 0 ? d2(a, la, b, l.minute) : 0;
  const s = l.second >= 0 ? d2(a, la, b, l.second) : 0;
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return null;
  let ms = 0;
  if (l.frac >= 0) {
    for (let i = 0; i < l.fracWidth; i++) {
      const c = cc(a, la, b, l.frac + i) - 48;
      if (!(c >= 0 && c <= 9)) return null;
      ms = ms * 10 + c;
    }
    ms *= l.fracWidth === 1 ? 100 : l.fracWidth === 2 ? 10 : 1;
  }
  return zone.isoOfLocal(daysFromCivil(y, mo, d), h, mi, s, ms, -1);
}

/** Thrown by compilePattern; `index` is the offset in the pattern. */
export class PatternError extends Error {
  readonly index: number;
  constructor(message: string, index: number) {
    super(message);
    this.index = index;
  }
}

const patternCache = new Map<string, DatePattern>();

/**
 * Compiles a pattern: yyyy yy MM M MMM MMMM dd d HH H hh h a mm ss S…(1-9) X XX XXX Z, 'quoted literal', any other
 * non-letter is a literal. Letters outside this list are refused (they usually are a typo: `YYYY`, `DD`, `hh` without
 * `a`).
 */
export function compilePattern(pattern: string): DatePattern {
  const hit = patternCache.get(pattern);
  if (hit) return hit;
  const tokens: Token[] = [];
  const lit = (t: string) => {
    const last = tokens[tokens.length - 1];
    if (last && last.kind === enum_.LIT) last.text += t;
    else tokens.push({ kind: enum_.LIT, text: t, width: t.length });
  };
  let i = 0;
  let seen12 = false;
  let seenAmPm = false;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === "'") {
      const end = pattern.indexOf("'", i + 1);
      if (end < 0) throw new PatternError('unterminated quote in date pattern', i);
      lit(end === i + 1 ? "'" : pattern.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    if (!/[A-Za-z]/.test(c)) {
      lit(c);
      i++;
      continue;
    }
    let j = i;
    while (j < pattern.length && pattern[j] === c) j++;
    const n = j - i;
    const bad = (why: string): never => {
      throw new PatternError(`${why} in date pattern ${JSON.stringify(pattern)}`, i);
    };
    switch (c) {
      case 'y':
        if (n === 4) tokens.push({ kind: enum_.YEAR4, text: '', width: 4 });
        else if (n === 2) tokens.push({ kind: enum_.YEAR2, text: '', width: 2 });
        else bad(`'${c.repeat(n)}' (use yyyy or yy)`);
        break;
      case 'M':
        if (n <= 2) tokens.push({ kind: enum_.MONTH, text: '', width: n === 2 ? 2 : 0 });
        else if (n <= 4) tokens.push({ kind: enum_.MONTH_NAME, text: '', width: n });
        else bad(`'${c.repeat(n)}'`);
        break;
      case 'd':
      case 'H':
      case 'h':
      case 'm':
      case 's':
        if (n > 2) bad(`'${c.repeat(n)}'`);
        tokens.push({
          kind:
            c === 'd'
              ? enum_.DAY
              : c === 'H'
                ? enum_.HOUR
                : c === 'h'
                  ? enum_.HOUR12
                  : c === 'm'
                    ? enum_.MINUTE
                    : enum_.SECOND,
          text: '',
          width: n === 2 ? 2 : 0,
        });
        if (c === 'h') seen12 = true;
        break;
      case 'S':
        if (n > 9) bad(`'${c.repeat(n)}' (at most 9 fraction digits)`);
        tokens.push({ kind: enum_.FRACTION, text: '', width: n });
        break;
      case 'a':
        if (n !== 1) bad(`'${c.repeat(n)}'`);
        tokens.push({ kind: enum_.AMPM, text: '', width: 0 });
        seenAmPm = true;
        break;
      case 'X':
      case 'Z':
        if (n > 3) bad(`'${c.repeat(n)}'`);
        tokens.push({ kind: enum_.OFFSET, text: c.repeat(n), width: n });
        break;
      case 'T':
        // common unquoted ISO separator
        if (n !== 1) bad(`'${c.repeat(n)}'`);
        lit('T');
        break;
      case 'Y':
      case 'D':
        bad(`'${c.repeat(n)}' (year is yyyy, day of month is dd)`);
        break;
      default:
        bad(`unknown pattern letter '${c}' (quote literal text: 'at')`);
    }
    i = j;
  }
  if (seen12 !== seenAmPm)
    throw new PatternError(`'h' (12-hour clock) and 'a' (AM/PM) go together; use HH for 24-hour`, 0);
  const p = new DatePattern(pattern, tokens);
  if (patternCache.size > 1000) patternCache.clear(); // patterns computed from data must not grow it without end
  patternCache.set(pattern, p);
  return p;
}

// scratch for parse results
let pY = 0;
let pMo = 0;
let pD = 0;
let pH = 0;
let pMi = 0;
let pS = 0;
let pMs = 0;
let pUs = 0;
let pOff = 0;

function bad(text: string, p: DatePattern, why: string): never {
  fault(`parseDate: ${JSON.stringify(text)} does not match ${JSON.stringify(p.pattern)} (${why})`);
}

/** Reads the fields of `text` into the scratch registers; returns whether an offset was read. */
function scan(text: string, p: DatePattern): boolean {
  pY = 1970;
  pMo = 1;
  pD = 1;
  pH = 0;
  pMi = 0;
  pS = 0;
  pMs = 0;
  pUs = -1;
  pOff = 0;
  let pm = -1;
  let gotOffset = false;
  let i = 0;
  const n = text.length;
  const toks = p.tokens;
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k];
    const kind = t.kind;
    if (kind === enum_.LIT) {
      const lt = t.text;
      if (lt.length === 1) {
        if (text.charCodeAt(i) !== lt.charCodeAt(0))
          bad(text, p, `expected ${JSON.stringify(lt)} at position ${i + 1}`);
        i++;
      } else {
        if (!text.startsWith(lt, i)) bad(text, p, `expected ${JSON.stringify(lt)} at position ${i + 1}`);
        i += lt.length;
      }
      continue;
    }
    if (kind === enum_.MONTH_NAME) {
      let j = i;
      while (j < n && (text.charCodeAt(j) | 32) >= 97 && (text.charCodeAt(j) | 32) <= 122) j++;
      const word = text.slice(i, j).toLowerCase();
      const idx = t.width === 3 ? MONTHS.findIndex((m) => m.slice(0, 3) === word) : MONTHS.indexOf(word);
      if (idx < 0) bad(text, p, `unknown month name at position ${i + 1}`);
      pMo = idx + 1;
      i = j;
      continue;
    }
    if (kind === enum_.AMPM) {
      const a = text.charCodeAt(i) | 32;
      const b = text.charCodeAt(i + 1) | 32;
      if ((a !== 97 && a !== 112) || b !== 109) bad(text, p, `expected AM or PM at position ${i + 1}`);
      pm = a === 112 ? 1 : 0;
      i += 2;
      continue;
    }
    if (kind === enum_.OFFSET) {
      const c = text.charCodeAt(i);
      if (c === 90 && t.text[0] === 'X') {
        i++;
        pOff = 0;
        gotOffset = true;
        continue;
      }
      if (c !== 43 && c !== 45) bad(text, p, `expected a UTC offset at position ${i + 1}`);
      const h = two(text, i + 1);
      if (h < 0) bad(text, p, `expected a UTC offset at position ${i + 1}`);
      i += 3;
      let mi = 0;
      if (t.width === 3) {
        if (text.charCodeAt(i) !== 58) bad(text, p, `expected ':' in the UTC offset at position ${i + 1}`);
        i++;
      }
      if (t.width >= 2 || t.text === 'Z') {
        mi = two(text, i);
        if (mi < 0) bad(text, p, `expected offset minutes at position ${i + 1}`);
        i += 2;
      }
      pOff = (c === 45 ? -1 : 1) * (h * MS_HOUR + mi * 60_000);
      gotOffset = true;
      continue;
    }
    // numbers
    let v = 0;
    const w = t.width;
    if (kind === enum_.FRACTION) {
      for (let j = 0; j < w; j++) {
        const c = text.charCodeAt(i + j) - 48;
        if (!(c >= 0 && c <= 9)) bad(text, p, `expected ${w} fraction digits at position ${i + 1}`);
        v = v * 10 + c;
      }
      i += w;
      // normalise to ms + micros (9 digits max)
      let ns = v * 10 ** (9 - w);
      pMs = Math.floor(ns / 1_000_000);
      ns -= pMs * 1_000_000;
      if (w > 3) pUs = Math.floor(ns / 1000);
      continue;
    }
    if (w > 0) {
      for (let j = 0; j < w; j++) {
        const c = text.charCodeAt(i + j) - 48;
        if (!(c >= 0 && c <= 9)) bad(text, p, `expected ${w} digits at position ${i + j + 1}`);
        v = v * 10 + c;
      }
      i += w;
    } else {
      const c0 = text.charCodeAt(i) - 48;
      if (!(c0 >= 0 && c0 <= 9)) bad(text, p, `expected a number at position ${i + 1}`);
      v = c0;
      i++;
      const c1 = text.charCodeAt(i) - 48;
      if (c1 >= 0 && c1 <= 9) {
        v = v * 10 + c1;
        i++;
      }
    }
    switch (kind) {
      case enum_.YEAR4:
        pY = v;
        break;
      case enum_.YEAR2:
        pY = 2000 + v;
        break;
      case enum_.MONTH:
        pMo = v;
        break;
      case enum_.DAY:
        pD = v;
        break;
      case enum_.HOUR:
      case enum_.HOUR12:
        pH = v;
        break;
      case enum_.MINUTE:
        pMi = v;
        break;
      case enum_.SECOND:
        pS = v;
        break;
    }
  }
  if (i !== n) bad(text, p, `unexpected ${JSON.stringify(text.slice(i, i + 10))} at position ${i + 1}`);
  if (pm >= 0) {
    if (pH < 1 || pH > 12) bad(text, p, `hour ${pH} is not a 12-hour clock hour`);
    pH = (pH % 12) + (pm ? 12 : 0);
  }
  if (pMo < 1 || pMo > 12) bad(text, p, `month ${pMo} out of range`);
  if (pD < 1 || pD > daysInMonth(pY, pMo)) bad(text, p, `day ${pD} out of range for ${pY}-${PAD2[pMo]}`);
  if (pH > 23) bad(text, p, `hour ${pH} out of range`);
  if (pMi > 59) bad(text, p, `minute ${pMi} out of range`);
  if (pS > 59) bad(text, p, `second ${pS} out of range`);
  if (pY < 1 || pY > 9999) bad(text, p, `year ${pY} out of range`);
  return gotOffset;
}

function two(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  if (!(a >= 0 && a <= 9 && b >= 0 && b <= 9)) return -1;
  return a * 10 + b;
}

/**
 * parseDate(text, pattern, zone): the instant for a wall-clock text in a zone (an offset in the text wins over the
 * zone). Throws a MapFault for text that does not match.
 */
export function parseWithPattern(text: string, p: DatePattern, zone: Zone | null): string {
  if (p.fixed !== null && zone !== null) {
    const r = parseFixed(text, '', p.fixed, zone);
    if (r !== null) return r;
  }
  const hasOff = scan(text, p);
  const days = daysFromCivil(pY, pMo, pD);
  if (hasOff) return isoOfMillis(days * MS_DAY + pH * MS_HOUR + pMi * 60_000 + pS * 1000 + pMs - pOff, pUs);
  if (!zone) fault(`parseDate: ${JSON.stringify(text)} has no UTC offset and no time zone was given`);
  return zone.isoOfLocal(days, pH, pMi, pS, pMs, pUs);
}

/** parseDate(a & b, pattern, zone) without building a & b: same result as parseWithPattern(a + b, …). */
export function parseWithPattern2(a: string, b: string, p: DatePattern, zone: Zone | null): string {
  if (p.fixed !== null && zone !== null) {
    const r = parseFixed(a, b, p.fixed, zone);
    if (r !== null) return r;
  }
  return parseWithPattern(a + b, p, zone);
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** parseIso(text[, zone]): ISO-8601 date or date-time; the zone is needed only when the text has no offset. */
export function parseIso(text: string, zone: Zone | null): string {
  const m = ISO_RE.exec(text);
  if (!m) fault(`parseIso: ${JSON.stringify(text)} is not an ISO-8601 date or date-time`);
  const y = +m[1];
  const mo = +m[2];
  const d = +m[3];
  const h = m[4] ? +m[4] : 0;
  const mi = m[5] ? +m[5] : 0;
  const s = m[6] ? +m[6] : 0;
  let ms = 0;
  let us = -1;
  if (m[7]) {
    const f = m[7].padEnd(9, '0');
    ms = +f.slice(0, 3);
    if (m[7].length > 3) us = +f.slice(3, 6);
  }
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59 || y < 1)
    fault(`parseIso: ${JSON.stringify(text)} is not a valid date-time`);
  const days = daysFromCivil(y, mo, d);
  const z = m[8];
  if (z) {
    let off = 0;
    if (z !== 'Z' && z !== 'z') {
      const oh = +z.slice(1, 3);
      const om = z.length > 3 ? +z.slice(-2) : 0;
      off = (z[0] === '-' ? -1 : 1) * (oh * MS_HOUR + om * 60_000);
    }
    return isoOfMillis(days * MS_DAY + h * MS_HOUR + mi * 60_000 + s * 1000 + ms - off, us);
  }
  if (!zone)
    fault(`parseIso: ${JSON.stringify(text)} has no UTC offset; give the time zone: parseIso(x, 'Europe/Paris')`);
  return zone.isoOfLocal(days, h, mi, s, ms, us);
}

/** Epoch milliseconds of a canonical (or any offset-bearing ISO) instant text. */
export function millisOf(instant: string): number {
  const m = ISO_RE.exec(instant);
  if (!m?.[8]) fault(`${JSON.stringify(instant)} is not an instant (ISO-8601 with Z or an offset)`);
  const iso = parseIso(instant, null);
  return Date.parse(iso);
}

/** formatDate(instant, pattern, zone): wall-clock text of an instant in a zone. */
export function formatInstant(instant: string, p: DatePattern, zone: Zone): string {
  const ms = millisOf(instant);
  const frac = instant.match(/\.(\d+)Z$/);
  const local = ms + zone.offsetAt(ms);
  const days = Math.floor(local / MS_DAY);
  civilFromDays(days, civ);
  const inDay = local - days * MS_DAY;
  const h = Math.floor(inDay / MS_HOUR);
  const mi = Math.floor((inDay % MS_HOUR) / 60_000);
  const s = Math.floor((inDay % 60_000) / 1000);
  const off = zone.offsetAt(ms);
  let out = '';
  for (const t of p.tokens) {
    switch (t.kind) {
      case enum_.LIT:
        out += t.text;
        break;
      case enum_.YEAR4:
        out += year4(civ[0]);
        break;
      case enum_.YEAR2:
        out += PAD2[civ[0] % 100];
        break;
      case enum_.MONTH:
        out += t.width === 2 ? PAD2[civ[1]] : String(civ[1]);
        break;
      case enum_.MONTH_NAME: {
        const name = MONTHS[civ[1] - 1];
        const cap = name[0].toUpperCase() + name.slice(1);
        out += t.width === 3 ? cap.slice(0, 3) : cap;
        break;
      }
      case enum_.DAY:
        out += t.width === 2 ? PAD2[civ[2]] : String(civ[2]);
        break;
      case enum_.HOUR:
        out += t.width === 2 ? PAD2[h] : String(h);
        break;
      case enum_.HOUR12: {
        const h12 = h % 12 === 0 ? 12 : h % 12;
        out += t.width === 2 ? PAD2[h12] : String(h12);
        break;
      }
      case enum_.AMPM:
        out += h < 12 ? 'AM' : 'PM';
        break;
      case enum_.MINUTE:
        out += t.width === 2 ? PAD2[mi] : String(mi);
        break;
      case enum_.SECOND:
        out += t.width === 2 ? PAD2[s] : String(s);
        break;
      case enum_.FRACTION: {
        const digits = (frac ? frac[1] : '000').padEnd(9, '0');
        out += digits.slice(0, t.width);
        break;
      }
      case enum_.OFFSET: {
        if (off === 0 && t.text[0] === 'X') {
          out += 'Z';
          break;
        }
        const a = Math.abs(off);
        const oh = PAD2[Math.floor(a / MS_HOUR)];
        const om = PAD2[Math.floor((a % MS_HOUR) / 60_000)];
        const sign = off < 0 ? '-' : '+';
        out +=
          t.width === 3 ? `${sign}${oh}:${om}` : t.width === 2 || t.text === 'Z' ? `${sign}${oh}${om}` : `${sign}${oh}`;
        break;
      }
    }
  }
  return out;
}

/** fromEpoch: the instant `us` microseconds after 1970-01-01T00:00Z; 6 fraction digits only when sub-ms digits exist. */
export function isoOfEpochMicros(us: bigint): string {
  const rem = ((us % 1000n) + 1000n) % 1000n;
  const ms = Number((us - rem) / 1000n);
  if (!(ms >= -62135596800000 && ms <= 253402300799999)) fault('epoch value is outside years 0001-9999');
  return isoOfMillis(ms, rem === 0n ? -1 : Number(rem));
}
