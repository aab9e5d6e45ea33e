/**
 * Exact decimal numbers for the mapping language. Never binary floating point for quantities.
 *
 * A Dec is an unscaled integer mantissa and a scale (value = mantissa / 10^scale). The mantissa is a JS number
 * while it is a safe integer (the fast, allocation-light path every realistic quantity takes) and a bigint beyond.
 * Every operation checks that its number result is still a safe integer and redoes the work in bigint otherwise,
 * so results are exact whatever the size.
 *
 * Dec deliberately has no prototype methods or public fields (only `#private` state and static functions): a
 * mapping expression that does `decimal(x).m` or `decimal(x).toString` sees nothing.
 */
import { fault } from './fault.ts';

export type RoundingMode = 'half-up' | 'half-even' | 'half-down' | 'up' | 'down' | 'ceiling' | 'floor';
export const ROUNDING_MODES: readonly RoundingMode[] = [
  'half-up',
  'half-even',
  'half-down',
  'up',
  'down',
  'ceiling',
  'floor',
];

/** Largest scale a result may get: division and exponent input beyond it are refused. */
export const MAX_SCALE = 36;
const MAX_EXPONENT = 64;
const SAFE = Number.MAX_SAFE_INTEGER;
const BSAFE = BigInt(SAFE);
const POW10: number[] = [];
for (let i = 0, p = 1; i <= 15; i++, p *= 10) POW10.push(p);
const BPOW10: bigint[] = [];
for (let i = 0, p = 1n; i <= MAX_SCALE * 2 + MAX_EXPONENT; i++, p *= 10n) BPOW10.push(p);
const QTY_LIMIT = 10n ** 18n; // decimal(18,3): at most 15 integer digits

function bpow10(n: number): bigint {
  return n < BPOW10.length ? BPOW10[n] : 10n ** BigInt(n);
}

export class Dec {
  readonly #m: number;
  readonly #b: bigint | undefined;
  readonly #s: number;

  constructor(m: number, s: number, b?: bigint) {
    this.#m = m;
    this.#s = s;
    this.#b = b;
  }

  static readonly ZERO = new Dec(0, 0);
  static readonly ONE = new Dec(1, 0);

  static isDec(v: unknown): v is Dec {
    return v instanceof Dec;
  }

  static ofInt(n: number): Dec {
    return Number.isSafeInteger(n) ? new Dec(n, 0) : Dec.ofBig(BigInt(n), 0);
  }

  static ofBig(b: bigint, s: number): Dec {
    return b <= BSAFE && b >= -BSAFE ? new Dec(Number(b), s) : new Dec(0, s, b);
  }

  /** A JS number as an exact decimal of its shortest round-trip representation (0.1 is 0.1). */
  static ofNumber(n: number): Dec | null {
    if (Number.isSafeInteger(n)) return new Dec(n, 0);
    if (!Number.isFinite(n)) return null;
    return Dec.parse(String(n));
  }

  static scale(d: Dec): number {
    return d.#s;
  }

  static sign(d: Dec): number {
    if (d.#b !== undefined) return d.#b < 0n ? -1 : 1;
    return d.#m < 0 ? -1 : d.#m > 0 ? 1 : 0;
  }

  static big(d: Dec): bigint {
    return d.#b ?? BigInt(d.#m);
  }

  /**
   * Parses decimal text: optional sign (leading `-`/`+`, or a trailing `-` as SAP writes negatives), digits with an
   * optional decimal separator, optional exponent; surrounding white space ignored. `groupSep` characters before the
   * decimal separator are skipped (`1.234,5` with sep `,` and group `.`). Returns null when the text is not a number.
   */
  static parse(text: string, decSep = 46, groupSep = -1): Dec | null {
    let i = 0;
    let n = text.length;
    while (i < n && text.charCodeAt(i) <= 32) i++;
    while (n > i && text.charCodeAt(n - 1) <= 32) n--;
    if (i === n) return null;
    let neg = false;
    let c = text.charCodeAt(i);
    if (c === 45) {
      neg = true;
      i++;
    } else if (c === 43) i++;
    else if (text.charCodeAt(n - 1) === 45) {
      neg = true;
      n--;
      while (n > i && text.charCodeAt(n - 1) <= 32) n--;
    }
    let m = 0;
    let scale = 0;
    let digits = 0;
    let seenSep = false;
    let big = false;
    const start = i;
    for (; i < n; i++) {
      c = text.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        digits++;
        if (seenSep) scale++;
        if (!big) {
          if (m > 900719925474098) big = true;
          else m = m * 10 + (c - 48);
        }
      } else if (c === decSep && !seenSep) seenSep = true;
      else if (c === groupSep && !seenSep && digits > 0) continue;
      else if ((c === 101 || c === 69) && digits > 0) break;
      else return null;
    }
    if (digits === 0) return null;
    let exp = 0;
    if (i < n) {
      // exponent: [eE][+-]?\d+
      i++;
      let eneg = false;
      c = text.charCodeAt(i);
      if (c === 45 || c === 43) {
        eneg = c === 45;
        i++;
      }
      if (i >= n) return null;
      for (; i < n; i++) {
        c = text.charCodeAt(i);
        if (c < 48 || c > 57) return null;
        exp = exp * 10 + (c - 48);
        if (exp > MAX_EXPONENT) return null;
      }
      if (eneg) exp = -exp;
    }
    let b: bigint | undefined;
    if (big) {
      let ds = '';
      for (let j = start; j < n; j++) {
        const cj = text.charCodeAt(j);
        if (cj >= 48 && cj <= 57) ds += text[j];
        else if (cj === 101 || cj === 69) break;
      }
      b = BigInt(ds);
      if (neg) b = -b;
    } else if (neg) m = -m;
    scale -= exp;
    if (scale < 0) {
      b = (b ?? BigInt(m)) * bpow10(-scale);
      scale = 0;
    }
    if (scale > MAX_SCALE) return null;
    if (b !== undefined) return Dec.ofBig(b, scale);
    return new Dec(m === 0 ? 0 : m, scale);
  }

  static neg(a: Dec): Dec {
    if (a.#b !== undefined) return Dec.ofBig(-a.#b, a.#s);
    return new Dec(a.#m === 0 ? 0 : -a.#m, a.#s);
  }

  static abs(a: Dec): Dec {
    return Dec.sign(a) < 0 ? Dec.neg(a) : a;
  }

  static add(a: Dec, b: Dec): Dec {
    if (a.#b === undefined && b.#b === undefined) {
      const sa = a.#s;
      const sb = b.#s;
      if (sa === sb) {
        const r = a.#m + b.#m;
        if (r <= SAFE && r >= -SAFE) return new Dec(r, sa);
      } else if (sa < sb) {
        if (sb - sa <= 15) {
          const x = a.#m * POW10[sb - sa];
          const r = x + b.#m;
          if (x <= SAFE && x >= -SAFE && r <= SAFE && r >= -SAFE) return new Dec(r, sb);
        }
      } else if (sa - sb <= 15) {
        const y = b.#m * POW10[sa - sb];
        const r = a.#m + y;
        if (y <= SAFE && y >= -SAFE && r <= SAFE && r >= -SAFE) return new Dec(r, sa);
      }
    }
    const s = Math.max(a.#s, b.#s);
    return Dec.ofBig(Dec.big(a) * bpow10(s - a.#s) + Dec.big(b) * bpow10(s - b.#s), s);
  }

  static sub(a: Dec, b: Dec): Dec {
    return Dec.add(a, Dec.neg(b));
  }

  static mul(a: Dec, b: Dec): Dec {
    const s = a.#s + b.#s;
    if (s > MAX_SCALE) fault(`result of ${Dec.toText(a)} * ${Dec.toText(b)} has more than ${MAX_SCALE} decimals`);
    if (a.#b === undefined && b.#b === undefined) {
      const r = a.#m * b.#m;
      if (r <= SAFE && r >= -SAFE) return new Dec(r === 0 ? 0 : r, s);
    }
    return Dec.ofBig(Dec.big(a) * Dec.big(b), s);
  }

  /** Exact division: the quotient must terminate within MAX_SCALE/2 decimals, else it is a fault (round it). */
  static div(a: Dec, b: Dec): Dec {
    if (Dec.sign(b) === 0) fault(`division by zero (${Dec.toText(a)} / 0)`);
    const t = MAX_SCALE / 2;
    const n = Dec.big(a) * bpow10(b.#s + t);
    const d = Dec.big(b) * bpow10(a.#s);
    if (n % d !== 0n)
      fault(
        `${Dec.toText(a)} / ${Dec.toText(b)} has no exact decimal result; round it explicitly, e.g. round(a / b, 3)`,
      );
    return Dec.strip(Dec.ofBig(n / d, t));
  }

  /** Division rounded to `scale` decimals with `mode` (what `round(a / b, n)` compiles to). */
  static divRound(a: Dec, b: Dec, scale: number, mode: RoundingMode): Dec {
    if (Dec.sign(b) === 0) fault(`division by zero (${Dec.toText(a)} / 0)`);
    const n = Dec.big(a) * bpow10(b.#s + scale);
    const d = Dec.big(b) * bpow10(a.#s);
    return Dec.ofBig(roundQuotient(n, d, mode), scale);
  }

  /** Rounds to `scale` decimals (never adds decimals: 1.5 stays 1.5 at scale 3). */
  static round(a: Dec, scale: number, mode: RoundingMode): Dec {
    const k = a.#s - scale;
    if (k <= 0) return a;
    if (a.#b === undefined && k <= 15) {
      const p = POW10[k];
      const m = a.#m;
      const r = m % p;
      let q = (m - r) / p;
      if (r !== 0 && roundUp(q, r, p, m < 0, mode)) q += m < 0 ? -1 : 1;
      return new Dec(q === 0 ? 0 : q, scale);
    }
    return Dec.ofBig(roundQuotient(Dec.big(a), bpow10(k), mode), scale);
  }

  /** Removes trailing fraction zeros (2.500 -> 2.5). */
  static strip(a: Dec): Dec {
    let s = a.#s;
    if (s === 0) return a;
    if (a.#b === undefined) {
      let m = a.#m;
      if (m === 0) return Dec.ZERO;
      while (s > 0 && m % 10 === 0) {
        m /= 10;
        s--;
      }
      return s === a.#s ? a : new Dec(m, s);
    }
    let b = a.#b;
    while (s > 0 && b % 10n === 0n) {
      b /= 10n;
      s--;
    }
    return Dec.ofBig(b, s);
  }

  static cmp(a: Dec, b: Dec): number {
    if (a.#b === undefined && b.#b === undefined) {
      const sa = a.#s;
      const sb = b.#s;
      if (sa === sb) return a.#m < b.#m ? -1 : a.#m > b.#m ? 1 : 0;
      if (sa < sb && sb - sa <= 15) {
        const x = a.#m * POW10[sb - sa];
        if (x <= SAFE && x >= -SAFE) return x < b.#m ? -1 : x > b.#m ? 1 : 0;
      } else if (sa > sb && sa - sb <= 15) {
        const y = b.#m * POW10[sa - sb];
        if (y <= SAFE && y >= -SAFE) return a.#m < y ? -1 : a.#m > y ? 1 : 0;
      }
    }
    const s = Math.max(a.#s, b.#s);
    const x = Dec.big(a) * bpow10(s - a.#s);
    const y = Dec.big(b) * bpow10(s - b.#s);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  /** The value as a JS integer when it is one and is safe, else null. */
  static toInt(a: Dec): number | null {
    const d = Dec.strip(a);
    if (d.#s !== 0 || d.#b !== undefined) return null;
    return d.#m;
  }

  /** Plain decimal text without exponent and without trailing fraction zeros: `-12.5`, `3`, `0.001`. */
  static toText(a: Dec): string {
    const d = Dec.strip(a);
    const s = d.#s;
    if (d.#b === undefined && s === 0) return String(d.#m);
    const neg = Dec.sign(d) < 0;
    let digits = d.#b === undefined ? String(Math.abs(d.#m)) : String(neg ? -d.#b : d.#b);
    if (s === 0) return neg ? `-${digits}` : digits;
    if (digits.length <= s) digits = '0'.repeat(s - digits.length + 1) + digits;
    const cut = digits.length - s;
    return `${neg ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`;
  }

  /**
   * The canonical quantity form: exactly 3 fraction digits, at most 15 integer digits, no `-0.000`.
   * Returns a reason string prefixed with `!` instead when the value does not fit (callers turn it into a fault);
   * rounding is never implicit.
   */
  static toQuantity(a: Dec): string {
    let s = a.#s;
    if (a.#b === undefined) {
      let m = a.#m;
      if (s > 3) {
        const p = POW10[Math.min(s - 3, 15)];
        if (s - 3 > 15 || m % p !== 0) return Dec.#tooPrecise(a);
        m /= p;
        s = 3;
      } else if (s < 3) {
        const x = m * POW10[3 - s];
        if (x > SAFE || x < -SAFE) return Dec.#bigQuantity(BigInt(m) * bpow10(3 - s));
        m = x;
      }
      if (m === 0) return '0.000';
      const neg = m < 0;
      let t = String(neg ? -m : m);
      if (t.length < 4) t = (t.length === 1 ? '000' : t.length === 2 ? '00' : '0') + t;
      const cut = t.length - 3;
      return neg ? `-${t.slice(0, cut)}.${t.slice(cut)}` : `${t.slice(0, cut)}.${t.slice(cut)}`;
    }
    let b = a.#b;
    if (s > 3) {
      const p = bpow10(s - 3);
      if (b % p !== 0n) return Dec.#tooPrecise(a);
      b /= p;
    } else b *= bpow10(3 - s);
    return Dec.#bigQuantity(b);
  }

  static #tooPrecise(a: Dec): string {
    return `!${Dec.toText(a)} has more than 3 fraction digits; round it explicitly (round(x, 3)) or set round: on the event`;
  }

  static #bigQuantity(b: bigint): string {
    const neg = b < 0n;
    if (neg) b = -b;
    if (b >= QTY_LIMIT) return `!${neg ? '-' : ''}${b / 1000n} exceeds decimal(18,3) (at most 15 integer digits)`;
    if (b === 0n) return '0.000';
    const t = String(b).padStart(4, '0');
    const cut = t.length - 3;
    return `${neg ? '-' : ''}${t.slice(0, cut)}.${t.slice(cut)}`;
  }
}

function roundUp(q: number, r: number, p: number, neg: boolean, mode: RoundingMode): boolean {
  // r !== 0 here; decides whether |q| grows by one.
  switch (mode) {
    case 'down':
      return false;
    case 'up':
      return true;
    case 'ceiling':
      return !neg;
    case 'floor':
      return neg;
    default: {
      const twice = Math.abs(r) * 2;
      if (twice > p) return true;
      if (twice < p) return false;
      if (mode === 'half-up') return true;
      if (mode === 'half-down') return false;
      return Math.abs(q) % 2 === 1; // half-even
    }
  }
}

/** n / d rounded to an integer with `mode`. */
function roundQuotient(n: bigint, d: bigint, mode: RoundingMode): bigint {
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  let q = n / d; // truncates toward zero
  const r = n - q * d;
  if (r === 0n) return q;
  const neg = n < 0n;
  let up: boolean;
  switch (mode) {
    case 'down':
      up = false;
      break;
    case 'up':
      up = true;
      break;
    case 'ceiling':
      up = !neg;
      break;
    case 'floor':
      up = neg;
      break;
    default: {
      const twice = (r < 0n ? -r : r) * 2n;
      if (twice > d) up = true;
      else if (twice < d) up = false;
      else if (mode === 'half-up') up = true;
      else if (mode === 'half-down') up = false;
      else up = (q < 0n ? -q : q) % 2n === 1n;
    }
  }
  if (up) q += neg ? -1n : 1n;
  return q;
}

/**
 * Fast path for the commonest quantity input: decimal text such as `12`, `-2.5`, `3.000`, `0042`. Returns the
 * canonical quantity, or undefined when the text needs the general parser (signs at the end, exponents, separators,
 * more than 3 fraction digits, huge numbers...).
 */
export function quickQuantity(t: string): string | undefined {
  const n = t.length;
  if (n === 0 || n > 19) return undefined;
  let i = 0;
  let neg = false;
  if (t.charCodeAt(0) === 45) {
    neg = true;
    i = 1;
  }
  // skip leading zeros but keep one digit
  while (i < n - 1 && t.charCodeAt(i) === 48 && t.charCodeAt(i + 1) !== 46) i++;
  const from = i;
  while (i < n) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  const intEnd = i;
  if (intEnd === from || intEnd - from > 15) return undefined;
  let frac = '';
  if (i < n) {
    if (t.charCodeAt(i) !== 46) return undefined;
    i++;
    const fs = i;
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c < 48 || c > 57) return undefined;
      i++;
    }
    const fl = i - fs;
    if (fl > 3) return undefined;
    frac = fl === 3 ? t.slice(fs) : fl === 2 ? `${t.slice(fs)}0` : fl === 1 ? `${t.slice(fs)}00` : '000';
  } else frac = '000';
  const int = from === 0 && intEnd === n ? t : t.slice(from, intEnd);
  if (neg) {
    if (frac === '000' && int === '0') return '0.000';
    return `-${int}.${frac}`;
  }
  return `${int}.${frac}`;
}
