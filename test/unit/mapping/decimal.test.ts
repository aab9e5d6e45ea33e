import { describe, expect, it } from 'vitest';
import { Dec, quickQuantity, type RoundingMode } from '../../../runtime/mapping/decimal.ts';
import { MapFault } from '../../../runtime/mapping/fault.ts';

const d = (s: string) => {
  const x = Dec.parse(s);
  if (x === null) throw new Error(`not a number: ${s}`);
  return x;
};
const t = Dec.toText;

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MapFault) return e.reason;
    throw e;
  }
  throw new Error('expected a MapFault');
}

/** Independent reference: a decimal as (bigint mantissa, scale) rendered to canonical text with bigint only. */
function refText(m: bigint, s: number): string {
  const neg = m < 0n;
  let digits = (neg ? -m : m).toString();
  if (s > 0) {
    digits = digits.padStart(s + 1, '0');
    let int = digits.slice(0, digits.length - s);
    let frac = digits.slice(digits.length - s).replace(/0+$/, '');
    int = int.replace(/^0+(?=\d)/, '');
    if (int === '0' && frac === '') frac = '';
    const body = frac ? `${int}.${frac}` : int;
    return body === '0' ? '0' : `${neg ? '-' : ''}${body}`;
  }
  return m === 0n ? '0' : `${neg ? '-' : ''}${digits}`;
}

/** Deterministic pseudo-random numbers (xorshift) so failures reproduce. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function randomDecimal(r: () => number): { m: bigint; s: number; text: string } {
  const len = 1 + Math.floor(r() * (r() < 0.2 ? 30 : 12));
  let digits = '';
  for (let i = 0; i < len; i++) digits += Math.floor(r() * 10);
  const s = Math.floor(r() * Math.min(len + 2, 8));
  const neg = r() < 0.5;
  const m = BigInt(digits) * (neg ? -1n : 1n);
  const padded = digits.padStart(s + 1, '0');
  const text = `${neg ? '-' : ''}${s ? `${padded.slice(0, padded.length - s)}.${padded.slice(padded.length - s)}` : digits}`;
  return { m, s, text };
}

describe('Dec.parse', () => {
  it.each([
    ['12', '12'],
    ['-2.5', '-2.5'],
    ['+3', '3'],
    ['12-', '-12'],
    ['12.000-', '-12'],
    [' 7 ', '7'],
    ['0042', '42'],
    ['1e3', '1000'],
    ['1.5E-2', '0.015'],
    ['.5', '0.5'],
    ['12.', '12'],
    ['-0', '0'],
    ['123456789012345678901234567890', '123456789012345678901234567890'],
  ])('%j -> %s', (input, out) => {
    expect(t(d(input))).toBe(out);
  });

  it.each(['', ' ', '-', 'abc', '1.2.3', '1,5', '--1', '1e', '1e+', 'e5', '1-2', '- 1 -'])('refuses %j', (s) => {
    expect(Dec.parse(s)).toBeNull();
  });

  it('reads other decimal and group separators', () => {
    expect(t(Dec.parse('1.234,5', 44, 46)!)).toBe('1234.5');
    expect(t(Dec.parse('1 234 567,25', 44, 32)!)).toBe('1234567.25');
    expect(Dec.parse('1,2,3', 44, 46)).toBeNull();
  });

  it('refuses absurd exponents instead of allocating huge numbers', () => {
    expect(Dec.parse('1e999999')).toBeNull();
    expect(Dec.parse('1e-999')).toBeNull();
  });

  it('reads JS numbers as the decimal they print as', () => {
    expect(t(Dec.ofNumber(0.1)!)).toBe('0.1');
    expect(t(Dec.ofNumber(-2.5)!)).toBe('-2.5');
    expect(t(Dec.ofNumber(1e21)!)).toBe('1000000000000000000000');
    expect(Dec.ofNumber(Number.NaN)).toBeNull();
  });
});

describe('Dec arithmetic is exact', () => {
  it('0.1 + 0.2 is 0.3 (binary floats say 0.30000000000000004)', () => {
    expect(t(Dec.add(d('0.1'), d('0.2')))).toBe('0.3');
    expect(0.1 + 0.2).not.toBe(0.3);
  });

  it('stays exact beyond 2^53', () => {
    expect(t(Dec.add(d('9007199254740993'), d('1')))).toBe('9007199254740994');
    expect(t(Dec.mul(d('123456789.123'), d('987654321.987')))).toBe('121932631355968601.347401'); // Python: Decimal('123456789.123') * Decimal('987654321.987')
  });

  it('agrees with bigint arithmetic on random operands (add, sub, mul, cmp)', () => {
    const r = rng(42);
    for (let i = 0; i < 3000; i++) {
      const a = randomDecimal(r);
      const b = randomDecimal(r);
      const s = Math.max(a.s, b.s);
      const am = a.m * 10n ** BigInt(s - a.s);
      const bm = b.m * 10n ** BigInt(s - b.s);
      const da = d(a.text);
      const db = d(b.text);
      expect(t(Dec.add(da, db)), `${a.text} + ${b.text}`).toBe(refText(am + bm, s));
      expect(t(Dec.sub(da, db)), `${a.text} - ${b.text}`).toBe(refText(am - bm, s));
      expect(t(Dec.mul(da, db)), `${a.text} * ${b.text}`).toBe(refText(a.m * b.m, a.s + b.s));
      expect(Dec.cmp(da, db), `${a.text} <=> ${b.text}`).toBe(am < bm ? -1 : am > bm ? 1 : 0);
    }
  });

  it('divides exactly or refuses', () => {
    expect(t(Dec.div(d('1'), d('8')))).toBe('0.125');
    expect(t(Dec.div(d('-7.5'), d('2.5')))).toBe('-3');
    expect(() => Dec.div(d('1'), d('3'))).toThrow(MapFault);
    expect(reason(() => Dec.div(d('1'), d('3')))).toMatch(/no exact decimal result; round it explicitly/);
    expect(reason(() => Dec.div(d('1'), d('0')))).toMatch(/division by zero/);
  });

  it('divides and rounds once with divRound', () => {
    expect(t(Dec.divRound(d('1'), d('3'), 3, 'half-up'))).toBe('0.333');
    expect(t(Dec.divRound(d('2'), d('3'), 3, 'half-up'))).toBe('0.667');
    expect(t(Dec.divRound(d('2'), d('3'), 3, 'down'))).toBe('0.666');
    expect(t(Dec.divRound(d('-2'), d('3'), 3, 'floor'))).toBe('-0.667');
    expect(t(Dec.divRound(d('1'), d('-8'), 2, 'half-even'))).toBe('-0.12');
  });
});

describe('rounding modes', () => {
  // The table of java.math.RoundingMode's documentation (rounding to an integer).
  const inputs = ['5.5', '2.5', '1.6', '1.1', '1.0', '-1.0', '-1.1', '-1.6', '-2.5', '-5.5'];
  const table: Record<RoundingMode, string[]> = {
    up: ['6', '3', '2', '2', '1', '-1', '-2', '-2', '-3', '-6'],
    down: ['5', '2', '1', '1', '1', '-1', '-1', '-1', '-2', '-5'],
    ceiling: ['6', '3', '2', '2', '1', '-1', '-1', '-1', '-2', '-5'],
    floor: ['5', '2', '1', '1', '1', '-1', '-2', '-2', '-3', '-6'],
    'half-up': ['6', '3', '2', '1', '1', '-1', '-1', '-2', '-3', '-6'],
    'half-down': ['5', '2', '2', '1', '1', '-1', '-1', '-2', '-2', '-5'],
    'half-even': ['6', '2', '2', '1', '1', '-1', '-1', '-2', '-2', '-6'],
  };
  for (const [mode, outs] of Object.entries(table) as Array<[RoundingMode, string[]]>) {
    it(mode, () => {
      expect(inputs.map((x) => t(Dec.round(d(x), 0, mode)))).toEqual(outs);
      // the bigint path (more than 15 dropped digits) follows the same table
      expect(inputs.map((x) => t(Dec.round(d(`${x}0000000000000000`), 0, mode)))).toEqual(outs);
    });
  }

  it('never adds digits', () => {
    expect(Dec.scale(Dec.round(d('1.5'), 3, 'half-up'))).toBe(1);
  });
});

describe('quantities', () => {
  it.each([
    ['12', '12.000'],
    ['-2.5', '-2.500'],
    ['0.001', '0.001'],
    ['-0', '0.000'],
    ['1.5000', '1.500'],
    ['999999999999999.999', '999999999999999.999'],
  ])('%s -> %s', (input, q) => {
    expect(Dec.toQuantity(d(input))).toBe(q);
  });

  it('refuses more than 3 fraction digits instead of rounding', () => {
    expect(Dec.toQuantity(d('1.2345'))).toMatch(/^!1\.2345 has more than 3 fraction digits/);
  });

  it('refuses more than 15 integer digits (decimal(18,3))', () => {
    expect(Dec.toQuantity(d('1000000000000000'))).toMatch(/exceeds decimal\(18,3\)/);
  });

  it('the text fast path agrees with the general parser, or defers to it', () => {
    const r = rng(7);
    const chars = '0123456789.-+ e,';
    let fast = 0;
    for (let i = 0; i < 20000; i++) {
      const len = 1 + Math.floor(r() * 8);
      let s = '';
      for (let j = 0; j < len; j++)
        s += r() < 0.75 ? chars[Math.floor(r() * 10)] : chars[Math.floor(r() * chars.length)];
      const q = quickQuantity(s);
      if (q === undefined) continue;
      fast++;
      const p = Dec.parse(s);
      expect(p, s).not.toBeNull();
      expect(q, s).toBe(Dec.toQuantity(p!));
    }
    expect(fast).toBeGreaterThan(5000);
  });
});
