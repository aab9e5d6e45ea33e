import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../../runtime/mapping/expr.ts';
import { FUNCTIONS } from '../../../runtime/mapping/functions.ts';
import { ExprError } from '../../../runtime/mapping/parser.ts';
import { Table, Units } from '../../../runtime/mapping/tables.ts';
import { ev, isConst } from './helpers.ts';

const rec = {
  store: 'S001',
  qty: '-2.5',
  n: 3,
  f: 0.1,
  flag: 'Y',
  yes: true,
  empty: '',
  blank: '  ',
  nothing: null,
  d: '20240301',
  t: '091500',
  lines: [
    { sku: 'A', qty: 1 },
    { sku: 'B', qty: 2 },
  ],
  item: { qty: '4', uom: 'CS' },
  'Store No': '0042',
  nested: { a: { b: { c: 'deep' } } },
};

function compileErr(src: string, tables: Record<string, Table> = {}): { message: string; pos: number } {
  try {
    compileExpression(src, { tables: new Map(Object.entries(tables)), units: null, lets: new Map(), item: false });
  } catch (e) {
    if (e instanceof ExprError) return { message: e.message, pos: e.pos };
    throw e;
  }
  throw new Error(`expected ${src} not to compile`);
}

describe('paths and literals', () => {
  it.each([
    ['store', 'S001'],
    ['lines[1].sku', 'B'],
    ['lines[-1].sku', 'B'],
    ['lines[5].sku', undefined],
    ["lines[0]['sku']", 'A'],
    ['`Store No`', '0042'],
    ["$['Store No']", '0042'],
    ['nested.a.b.c', 'deep'],
    ['nested.x.y.z', undefined],
    ['store.x', undefined],
    ['missing', undefined],
    ['$meta.MsgId', 'M-1'],
    ['$record.ref', 'sales.csv:7'],
    ['lines[n - 2].sku', 'B'],
    ["'it''s'", "it's"],
    ["'it\\'s'", "it's"],
    ['"tab\\there"', 'tab\there'],
    ["'\\u00e9'", 'é'],
    ['12.50', '#12.5'],
    ['true', true],
    ['null', null],
  ])('%s', (src, out) => {
    expect(ev(src, rec, { meta: { MsgId: 'M-1' }, ref: 'sales.csv:7' })).toEqual(out);
  });

  it('$item and $index inside forEach templates', () => {
    expect(ev('$item.qty * 2', rec, { item: { qty: '4' } })).toBe('#8');
    expect(ev('$index + 1', rec, { item: {} })).toBe('#1');
  });
});

describe('arithmetic is exact decimal', () => {
  it.each([
    ['0.1 + 0.2', '#0.3'],
    ['f + 0.2', '#0.3'],
    ['qty * 2', '#-5'],
    ['qty * n', '#-7.5'],
    ['-qty', '#2.5'],
    ['10 / 4', '#2.5'],
    ['round(10 / 3, 3)', '#3.333'],
    ['round(-2.5)', '#-3'],
    ["round(-2.5, 0, 'half-even')", '#-2'],
    ["round(2.345, 2, 'down')", '#2.34'],
    ['7 % 3', '#1'],
    ['-7 % 3', '#-1'],
    ['abs(qty)', '#2.5'],
    ['neg(3)', '#-3'],
    ["decimal('1.234,5', ',', '.')", '#1234.5'],
    ["decimal('12,000-', ',')", '#-12'],
    ['decimal(empty)', null],
    ['min(3, qty, nothing)', '#-2.5'],
    ['max(3, qty)', '#3'],
    ['nothing * 2', null],
    ['missing + 1', null],
  ])('%s', (src, out) => {
    expect(ev(src, rec)).toEqual(out);
  });

  it('a division without an exact result is a fault, not a float', () => {
    expect(ev('n / 7', rec)).toEqual({ fault: expect.stringMatching(/no exact decimal result; round it explicitly/) });
    expect(ev('n / (n - 3)', rec)).toEqual({ fault: expect.stringMatching(/division by zero/) });
  });

  it('text that is not a number is a fault in arithmetic', () => {
    expect(ev('store * 2', rec)).toEqual({ fault: '"S001" is not a number' });
    expect(ev('decimal(store)', rec)).toEqual({ fault: 'decimal: "S001" is not a number' });
  });
});

describe('comparisons, logic, conditionals', () => {
  it.each([
    ["flag == 'Y'", true],
    ["flag != 'Y'", false],
    ['qty < 0', true],
    ['qty < -3', false],
    ["'0042' == 42", true],
    ["'0042' == '42'", false],
    ['n == 3.0', true],
    ['nothing == null', true],
    ['missing == null', true],
    ["missing == ''", false],
    ['nothing < 1', false],
    ['nothing >= 1', false],
    ["'2024-03-01T00:00:00.000Z' < '2024-03-02T00:00:00.000Z'", true],
    ["store in ['S001', 'S002']", true],
    ['n in [1, 2, 3]', true],
    ["'3' in [1, 2, 3]", true],
    ["flag == 'Y' and qty < 0", true],
    ["flag == 'N' or yes", true],
    ['not yes', false],
    ["!(flag == 'N')", true],
    ["qty < 0 ? 'RETURN' : 'SALE'", 'RETURN'],
    ["if(qty < 0, 'R', 'S')", 'R'],
    ["if(n > 5, 'big')", null],
    ["case(n > 5, 'big', n > 1, 'mid', 'small')", 'mid'],
    ["case(n > 5, 'big')", null],
    ["switch(flag, 'Y', 'yes', 'N', 'no', 'other')", 'yes'],
    ["switch(n, 1, 'one', 3, 'three')", 'three'],
    ["switch('x', 'Y', 'yes')", null],
  ])('%s', (src, out) => {
    expect(ev(src, rec)).toEqual(out);
  });

  it('only the chosen branch is evaluated', () => {
    expect(ev("if(true, 'ok', reject('never'))", rec)).toBe('ok');
    expect(ev("yes ? 'ok' : reject('never')", rec)).toBe('ok');
    expect(ev("coalesce(store, reject('never'))", rec)).toBe('S001');
    expect(ev("flag == 'N' and reject('never')", rec)).toBe(false);
  });

  it('conditions must be booleans: text is an error, null is false', () => {
    expect(ev("if(flag, 'a', 'b')", rec)).toEqual({ fault: expect.stringMatching(/must be true or false, got "Y"/) });
    expect(ev("if(nothing, 'a', 'b')", rec)).toBe('b');
    expect(compileErr("if('Y', 1, 2)").message).toMatch(/this always fails: if\(\) condition must be true or false/);
    expect(compileErr('upper(store) and yes').message).toBe(
      "the left side of 'and' must be true or false, but this is text (compare explicitly, e.g. x == 'Y')",
    );
    expect(ev("store < 'a' and yes", rec)).toBe(true);
  });

  it('ordering text against a number is a fault, not a guess', () => {
    expect(ev('store < 3', rec)).toEqual({ fault: '"S001" is not a number' });
  });
});

describe('null handling', () => {
  it.each([
    ["empty ?? 'x'", 'x'],
    ["nothing ?? 'x'", 'x'],
    ["missing ?? 'x'", 'x'],
    ["blank ?? 'x'", '  '],
    ["coalesce(nothing, empty, 'c')", 'c'],
    ['coalesce(nothing, missing)', null],
    ['isNull(nothing)', true],
    ['isNull(missing)', true],
    ['isNull(empty)', false],
    ['isEmpty(empty)', true],
    ['isEmpty(blank)', true],
    ['isEmpty(lines)', false],
    ["nullif(store, 'S001')", null],
    ["nullif(store, 'S002')", 'S001'],
    ['upper(nothing)', null],
    ["concat('a', nothing, 'b')", 'ab'],
    ["'a' & nothing & 'b'", 'ab'],
  ])('%s', (src, out) => {
    expect(ev(src, rec)).toEqual(out);
  });
});

describe('text functions', () => {
  it.each([
    ["trim('  a b  ')", 'a b'],
    ["trim('xxaxx', 'x')", 'a'],
    ["trimStart('000123', '0')", '123'],
    ["trimEnd('123   ')", '123'],
    ["upper('abc')", 'ABC'],
    ["lower('ABC')", 'abc'],
    ["substr('hello', 1, 3)", 'ell'],
    ["substr('hello', -3)", 'llo'],
    ["substr('hello', 10)", ''],
    ["left('hello', 2)", 'he'],
    ["right('hello', 2)", 'lo'],
    ["padStart('123', 18, '0')", '000000000000000123'],
    ["padStart('12345', 3, '0')", '12345'],
    ["padEnd('ab', 4, '.')", 'ab..'],
    ["replace('a-b-c', '-', '/')", 'a/b/c'],
    ["replace('a.b', '.', '$&')", 'a$&b'],
    ["split('a-b-c', '-')[1]", 'b'],
    ["join(split('a-b-c', '-'), '+')", 'a+b+c'],
    ["concat('S', 1, '-', 2.50)", 'S1-2.5'],
    ["startsWith(store, 'S0')", true],
    ["endsWith(store, '1')", true],
    ["contains(store, '00')", true],
    ["contains(nothing, '00')", false],
    ['length(store)', 4],
    ['length(lines)', 2],
    ['text(12.50)', '12.5'],
    ['text(yes)', 'true'],
    ["matches(store, 'S[0-9]{3}')", true],
    ["matches(store, 'S[0-9]')", false],
    ["store & '/' & n", 'S001/3'],
  ])('%s', (src, out) => {
    expect(ev(src, rec)).toEqual(out);
  });

  it('constant expressions are folded at compile time', () => {
    expect(isConst("padStart('123', 18, '0')")).toBe(true);
    expect(isConst("upper('a') & '-' & 1")).toBe(true);
    expect(isConst('round(10 / 3, 2)')).toBe(true);
    expect(isConst('upper(store)')).toBe(false);
    expect(isConst("reject('x')")).toBe(false);
  });
});

describe('dates in expressions', () => {
  it('parses with a zone taken from data', () => {
    expect(ev("parseDate(d & t, 'yyyyMMddHHmmss', 'Europe/Paris')", rec)).toBe('2024-03-01T08:15:00.000Z');
    expect(ev("parseDate(d & t, 'yyyyMMddHHmmss', zone)", { ...rec, zone: 'America/New_York' })).toBe(
      '2024-03-01T14:15:00.000Z',
    );
    expect(ev("parseDate(d, 'yyyyMMdd', zone)", { ...rec, zone: 'Nowhere/Else' })).toEqual({
      fault: 'unknown time zone "Nowhere/Else"',
    });
    expect(ev("parseDate(empty, 'yyyyMMdd', 'UTC')", rec)).toBe(null);
    // date & time parts are read in place: same results and messages as the joined text
    expect(ev("parseDate(d & ' ' & t, 'yyyyMMdd HHmmss', 'Europe/Paris')", rec)).toBe('2024-03-01T08:15:00.000Z');
    expect(ev("parseDate(nothing & empty, 'yyyyMMddHHmmss', 'UTC')", rec)).toBe(null);
    expect(ev("parseDate(d & nothing, 'yyyyMMddHHmmss', 'UTC')", rec)).toEqual({
      fault: 'parseDate: "20240301" does not match "yyyyMMddHHmmss" (expected 2 digits at position 9)',
    });
    expect(ev("parseDate(d & t, 'yyyyMMddHHmmss', 'UTC')", { d: '2024023', t: '1091500' })).toEqual({
      fault: 'parseDate: "20240231091500" does not match "yyyyMMddHHmmss" (day 31 out of range for 2024-02)',
    });
    expect(ev("parseDate(d & t, 'yyyyMMddHHmmss', 'UTC')", { d: '202402', t: '29091500' })).toBe(
      '2024-02-29T09:15:00.000Z',
    );
    expect(ev("parseIso('2024-03-01T10:00:00+01:00')", rec)).toBe('2024-03-01T09:00:00.000Z');
    expect(ev("fromEpoch(1700000000, 's')", rec)).toBe('2023-11-14T22:13:20.000Z');
    expect(ev("fromEpoch('1700000000123')", rec)).toBe('2023-11-14T22:13:20.123Z');
    expect(compileErr("fromEpoch(1.5, 'us')").message).toMatch(/this always fails: .*finer than a microsecond/);
    expect(ev("fromEpoch(x, 'us')", { x: '1.5' })).toEqual({
      fault: expect.stringMatching(/finer than a microsecond/),
    });
    expect(ev("formatDate(parseIso('2024-07-01T22:30:00Z'), 'yyyy-MM-dd', 'Europe/Paris')", rec)).toBe('2024-07-02');
  });

  it('checks patterns and constant zones when compiling', () => {
    expect(compileErr("parseDate(d, 'YYYYMMdd', 'UTC')").message).toMatch(/year is yyyy/);
    expect(compileErr("parseDate(d, 'yyyyMMdd', 'Europe/Pariss')").message).toMatch(
      /unknown time zone "Europe\/Pariss"/,
    );
    expect(compileErr("parseDate(d, 'yyyyMMdd')").message).toMatch(/needs a time zone/);
    expect(compileErr("parseDate('20240231', 'yyyyMMdd', 'UTC')").message).toMatch(/this always fails: .*day 31/);
  });
});

describe('tables, lookups and units', () => {
  const stores = new Table({
    name: 'stores',
    kind: 'lookup',
    keyColumns: ['code'],
    columns: ['loc', 'tz'],
    value: 'loc',
  });
  stores.add('S001', { loc: 'LOC-1', tz: 'Europe/Paris' });
  const moves = new Table({
    name: 'moves',
    kind: 'table',
    keyColumns: ['bwart', 'shkzg'],
    columns: ['type', 'sign'],
    onMissing: 'default',
    default: { type: 'ADJUSTMENT', sign: '1' },
  });
  moves.add('101\u001fS', { type: 'RECEIPT', sign: '1' });
  const tables = { stores, moves };

  it('reads values, named columns and composite keys', () => {
    expect(ev('lookup(stores, store)', rec, { tables })).toBe('LOC-1');
    expect(ev("lookup(stores, store, 'tz')", rec, { tables })).toBe('Europe/Paris');
    expect(ev("lookup(stores, 'S009')", rec, { tables })).toEqual({ fault: 'no entry for "S009" in lookup stores' });
    expect(ev("lookup(moves, ['101', 'S'], 'type')", rec, { tables })).toBe('RECEIPT');
    expect(ev("lookup(moves, ['999', 'S'], 'type')", rec, { tables })).toBe('ADJUSTMENT');
    expect(ev("lookup(moves, [101, 'S'], 'sign') * qty", rec, { tables })).toBe('#-2.5');
    expect(ev("has(stores, store) and not has(stores, 'X')", rec, { tables })).toBe(true);
  });

  it('checks table names, columns and key shapes when compiling', () => {
    expect(compileErr('lookup(shops, store)', tables).message).toBe(
      'unknown table or lookup "shops" (declared: stores, moves)',
    );
    expect(compileErr("lookup(stores, store, 'zone')", tables).message).toBe(
      'lookup stores has no column "zone" (columns: loc, tz)',
    );
    expect(compileErr('lookup(moves, [1, 2, 3])', tables).message).toMatch(/keyed by 2 columns/);
    expect(compileErr("lookup(moves, ['1', 'S'])", tables).message).toMatch(
      /has 2 value columns \(type, sign\): name one/,
    );
  });

  it('converts units exactly', () => {
    const units = new Units({ CS: '12 EA', PAL: '40 CS', DZ: '12 EA', KG: '1000 G' });
    expect(ev("convert(item.qty, item.uom, 'EA')", rec, { units })).toBe('#48');
    expect(ev("convert(2, 'PAL', 'EA')", rec, { units })).toBe('#960');
    expect(ev("convert(24, 'EA', 'CS')", rec, { units })).toBe('#2');
    expect(ev("convert(1, 'DZ', 'CS')", rec, { units })).toBe('#1');
    expect(ev("convert(x, 'EA', 'CS')", { x: 5 }, { units })).toEqual({
      fault: expect.stringMatching(/no exact decimal/),
    });
    expect(ev("convert(1, u, 'EA')", { u: 'KG' }, { units })).toEqual({
      fault: 'cannot convert "KG" to "EA" (no conversion declared in units:)',
    });
  });
});

describe('compile errors point at the problem', () => {
  it.each([
    ['foo(1)', 'unknown function foo(); see docs/mapping-language.md for the list', 0],
    ['uper(store)', 'unknown function uper() (did you mean upper?); see docs/mapping-language.md for the list', 0],
    ['trim()', 'trim(s[, chars]) takes 1 to 2 arguments, got 0', 0],
    ['a = 1', "'=' is not an operator: compare with '=='", 2],
    ['a == 1 == 2', 'comparisons do not chain: write (a == b) and (b == c)', 7],
    ["'open", 'unterminated text literal (missing closing quote)', 0],
    ['12abc', "unexpected 'a' after number 12", 2],
    ['(a + b', "expected ')' to close (, found end of expression", 6],
    ['a +', 'unexpected end of expression', 3],
    ["upper('a') + 1", '\'+\' needs numbers, but "A" is text (join text with &)', 0],
    ['$x', 'unknown variable $x; variables are $, $meta, $record, $item, $index and the names declared in let:', 0],
    ['$item.qty', '$item only exists in event templates with forEach: (per item of the list)', 0],
    ['$record.x', '$record has two fields: $record.ref and $record.meta', 0],
    ["x in 'abc'", "the right side of 'in' must be a list, e.g. x in ['A', 'B']", 5],
    ['a ? b', "expected ':' in the ternary c ? a : b, found end of expression", 5],
    ['1 / 0', 'this always fails: division by zero (1 / 0)', 0],
    ['in', "unexpected keyword 'in' (quote a field of that name: `in`)", 0],
  ])('%s', (src, message, pos) => {
    const e = compileErr(src);
    expect(e.message).toBe(message);
    expect(e.pos).toBe(pos);
  });

  it('every function is documented with a signature', () => {
    for (const [name, f] of Object.entries(FUNCTIONS)) {
      expect(f.sig.startsWith(`${name}(`), name).toBe(true);
      expect(f.doc.length, name).toBeGreaterThan(10);
    }
  });
});
