import { describe, expect, it } from 'vitest';
import { codePage } from '../../../runtime/formats/copybook/charset.ts';
import { formatDigits, formatNumber } from '../../../runtime/formats/copybook/decoder.ts';
import { binary, decodeAll, ebcdic, fmt, packed, pic, plain, rdw, single, zoned } from './fixtures.ts';

const one = (f: ReturnType<typeof single>, bytes: Buffer, ref = 'MSG1') => f.decodeMessage(bytes, ref);
const value = (f: ReturnType<typeof single>, bytes: Buffer) => {
  const [r] = one(f, bytes);
  if (r.error) throw new Error(r.error.reason);
  return r.value as Record<string, unknown>;
};

describe('numbers come out as exact decimal strings', () => {
  it('formatNumber / formatDigits', () => {
    expect(formatNumber(false, 1900, 2)).toBe('19.00');
    expect(formatNumber(true, 1900, 2)).toBe('-19.00');
    expect(formatNumber(false, 5, 3)).toBe('0.005');
    expect(formatNumber(true, 0, 2)).toBe('0.00');
    expect(formatNumber(false, 12, -2)).toBe('1200');
    expect(formatDigits(true, '0000123456789012345678', 4)).toBe('-12345678901234.5678');
    expect(formatDigits(false, '000', 0)).toBe('0');
  });
});

describe('PIC X text through the code page', () => {
  it('decodes and trims right by default; trim both/none', () => {
    const bytes = Buffer.concat([pic('  AB', 6), ebcdic('x')]);
    expect(value(single('01 R. 05 T PIC X(6). 05 U PIC X.'), bytes)).toEqual({ t: '  AB', u: 'x' });
    expect(value(single('01 R. 05 T PIC X(6). 05 U PIC X.', { trim: 'both' }), bytes)).toEqual({ t: 'AB', u: 'x' });
    expect(value(single('01 R. 05 T PIC X(6). 05 U PIC X.', { trim: 'none' }), bytes)).toEqual({ t: '  AB  ', u: 'x' });
  });

  it('numeric-edited pictures are read as text', () => {
    expect(value(single('01 R. 05 E PIC ZZ9.99-.'), ebcdic(' 12.50-'))).toEqual({ e: ' 12.50-' });
  });

  // Code points per code page (IBM CCSID tables; ibm-main archive msg62445; Python cp037/cp500; ICU ibm-1047).
  const SPECIAL: Record<string, Record<string, number>> = {
    cp037: { '[': 0xba, ']': 0xbb, '^': 0xb0, '!': 0x5a, '|': 0x4f, '¬': 0x5f },
    cp500: { '[': 0x4a, ']': 0x5a, '^': 0x5f, '!': 0x4f, '|': 0xbb, '¬': 0xba },
    cp1047: { '[': 0xad, ']': 0xbd, '^': 0x5f, '!': 0x5a, '|': 0x4f, '¬': 0xb0 },
    cp1140: { '[': 0xba, ']': 0xbb, '^': 0xb0, '!': 0x5a, '|': 0x4f, '¬': 0x5f },
  };
  for (const [cp, chars] of Object.entries(SPECIAL)) {
    it(`${cp}: the characters that differ between code pages`, () => {
      const bytes = Buffer.from(Object.values(chars));
      expect(value(single(`01 R. 05 T PIC X(${bytes.length}).`, { codePage: cp }), bytes)).toEqual({ t: Object.keys(chars).join('') });
    });
  }

  it('shared characters are the same in all four: letters, digits, space and . , / ( ) + * ; - _ > ? : \' =', () => {
    const text = "Az09 .,/()+*;-_>?:'=";
    const ref = ebcdic(text, 'cp037');
    for (const cp of ['cp500', 'cp1047', 'cp1140']) expect(ebcdic(text, cp)).toEqual(ref);
    expect([...ref.subarray(0, 4)]).toEqual([0xc1, 0xa9, 0xf0, 0xf9]);
  });

  it('cp1140 is cp037 plus the euro sign at 0x9F', () => {
    const t037 = codePage('037').table;
    const t1140 = codePage('IBM-1140').table;
    const diff = [...t037].flatMap((ch, i) => (ch === t1140[i] ? [] : [i]));
    expect(diff).toEqual([0x9f]);
    expect(t1140[0x9f]).toBe('€');
    expect(t037[0x9f]).toBe('¤');
    expect(value(single('01 R. 05 T PIC X(4).', { codePage: 1140 }), Buffer.from([0x9f, 0xf1, 0xf0, 0xf0]))).toEqual({ t: '€100' });
  });

  it('the tables are one-to-one with 256 entries; EBCDIC NL is 0x15, LF 0x25', () => {
    for (const cp of ['037', '500', '1047', '1140']) {
      const t = codePage(cp).table;
      expect(t.length).toBe(256);
      expect(new Set(t).size).toBe(256);
      expect(t[0x15]).toBe('\u0085');
      expect(t[0x25]).toBe('\n');
      expect(t[0x40]).toBe(' ');
    }
    expect(() => codePage('cp875')).toThrow(/unknown code page/);
  });
});

describe('zoned decimals', () => {
  it('unsigned, signed trailing overpunch, leading overpunch, separate signs', () => {
    const f = single(`01 R.
      05 U PIC 9(4).
      05 ST PIC S9(3)V99.
      05 SL PIC S9(3) SIGN IS LEADING.
      05 TS PIC S9(3) TRAILING SEPARATE.
      05 LS PIC S9V9 LEADING SEPARATE.`);
    const bytes = Buffer.concat([
      zoned(42, 4),
      zoned(-12345, 5, { signed: true }),
      zoned(-7, 3, { signed: true, leading: true }),
      zoned(-123, 3, { separate: true }),
      zoned(15, 2, { separate: true, leading: true }),
    ]);
    expect(value(f, bytes)).toEqual({ u: '42', st: '-123.45', sl: '-7', ts: '-123', ls: '+1.5'.slice(1) });
  });

  it('overpunch: C0–C9 and A/E/F positive, D0–D9 and B negative (read through cp037 as {A–I and }J–R)', () => {
    const f = single('01 R. 05 N PIC S9(2).');
    const cases: Array<[number, string]> = [
      [0xc0, '10'],
      [0xc9, '19'],
      [0xd0, '-10'],
      [0xd5, '-15'],
      [0xf3, '13'],
      [0xa3, '13'],
      [0xe3, '13'],
      [0xb3, '-13'],
    ];
    for (const [b, want] of cases) expect(value(f, Buffer.from([0xf1, b]))).toEqual({ n: want });
    expect(ebcdic('{ABCDEFGHI}JKLMNOPQR')).toEqual(Buffer.from([0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9]));
  });

  it('rejects a bad digit with its byte offset, and says when it looks like ASCII (wrong code page)', () => {
    const f = single('01 R. 05 A PIC X(2). 05 N PIC 9(4).');
    const [r] = one(f, Buffer.concat([pic('AB', 2), Buffer.from('1234', 'latin1')]), 'MSG-7');
    expect(r.error).toMatchObject({ stage: 'decode', offset: 2, field: 'R.N', file: 'MSG-7' });
    expect(r.error!.reason).toMatch(/MSG-7.*invalid zoned decimal digit 0x31 in R.N at offset 2 .*wrong code page/);
  });

  it('negative sign in an unsigned field is a reject', () => {
    const [r] = one(single('01 R. 05 N PIC 9(2).'), Buffer.from([0xf1, 0xd2]));
    expect(r.error!.reason).toMatch(/negative sign 0xD2 in unsigned R.N/);
    expect(r.error!.offset).toBe(1);
  });

  it('bad separate sign byte', () => {
    const [r] = one(single('01 R. 05 N PIC S9(2) SIGN TRAILING SEPARATE.'), Buffer.from([0xf1, 0xf2, 0x40]));
    expect(r.error).toMatchObject({ offset: 2 });
    expect(r.error!.reason).toMatch(/invalid sign byte 0x40/);
  });

  it('latin1 (PC COBOL) zoned: digits 30–39, {A–I }J–R and p–y signs', () => {
    const f = single('01 R. 05 A PIC S9(3). 05 B PIC S9(3). 05 C PIC S9(3). 05 T PIC X(2).', { codePage: 'latin1' });
    expect(value(f, Buffer.from('12J12{12qhi', 'latin1'))).toEqual({ a: '-121', b: '120', c: '-121', t: 'hi' });
  });

  it('blank numeric fields: reject by default, or null / zero', () => {
    const body = '01 R. 05 N PIC 9(3)V9. 05 P PIC S9(3) COMP-3.';
    const bytes = Buffer.from([0x40, 0x40, 0x40, 0x40, 0, 0]);
    const [r] = one(single(body), bytes);
    expect(r.error!.reason).toMatch(/blank numeric field R.N \(all spaces\) at offset 0/);
    expect(value(single(body, { blankNumeric: 'null' }), bytes)).toEqual({ n: null, p: null });
    expect(value(single(body, { blankNumeric: 'zero' }), bytes)).toEqual({ n: '0.0', p: '0' });
  });

  it('more than 15 digits stay exact', () => {
    const f = single('01 R. 05 N PIC S9(16)V9(2).');
    expect(value(f, zoned(-123456789012345678n, 18, { signed: true }))).toEqual({ n: '-1234567890123456.78' });
  });
});

describe('COMP-3 packed decimals', () => {
  it('odd and even digit counts, signs C/D/F, scale, 31 digits', () => {
    const f = single(`01 R.
      05 A PIC S9(5) COMP-3.
      05 B PIC S9(4)V99 PACKED-DECIMAL.
      05 C PIC 9(3) COMPUTATIONAL-3.
      05 D PIC S9(31) COMP-3.
      05 E PIC S9(9)V99 COMP-3.`);
    const bytes = Buffer.concat([
      packed(12345, 5),
      packed(-123456, 6),
      packed(7, 3, 'F'),
      packed(-1234567890123456789012345678901n, 31),
      packed(1900, 11),
    ]);
    expect([...bytes.subarray(0, 3)]).toEqual([0x12, 0x34, 0x5c]);
    expect(value(f, bytes)).toEqual({ a: '12345', b: '-1234.56', c: '7', d: '-1234567890123456789012345678901', e: '19.00' });
  });

  it('a bad digit nibble rejects with the offset of its byte', () => {
    const f = single('01 R. 05 K PIC X(4). 05 P PIC S9(5) COMP-3.');
    const [r] = one(f, Buffer.concat([pic('KEY', 4), Buffer.from([0x12, 0xa4, 0x5c])]), 'ID:414d51');
    expect(r.error).toMatchObject({ stage: 'decode', offset: 5, field: 'R.P', file: 'ID:414d51' });
    expect(r.error!.reason).toMatch(/ID:414d51.*invalid packed decimal nibble 0xA4 in R.P at offset 5/);
  });

  it('a bad sign nibble rejects (and so does a negative sign on an unsigned field)', () => {
    const f = single('01 R. 05 P PIC S9(3) COMP-3.');
    expect(one(f, Buffer.from([0x12, 0x34]))[0].error!.reason).toMatch(/invalid packed decimal sign nibble 0x34 .* offset 1/);
    const u = single('01 R. 05 P PIC 9(3) COMP-3.');
    expect(one(u, packed(-5, 3))[0].error!.reason).toMatch(/negative sign nibble/);
  });
});

describe('COMP / BINARY big-endian', () => {
  it('halfword, fullword, doubleword, signed and unsigned, with scale', () => {
    const f = single(`01 R.
      05 H PIC S9(4) COMP.
      05 U PIC 9(4) BINARY.
      05 F PIC S9(7)V99 COMP-4.
      05 D PIC S9(18) COMP-5.`);
    const u = Buffer.from([0xff, 0xfe]);
    const bytes = Buffer.concat([binary(-2, 2), u, binary(-123456789, 4), binary(-9007199254740993n, 8)]);
    expect(value(f, bytes)).toEqual({ h: '-2', u: '65534', f: '-1234567.89', d: '-9007199254740993' });
  });
});

describe('OCCURS', () => {
  it('fixed OCCURS of elementary items and groups', () => {
    const f = single(`01 R.
      05 Q PIC S9(3) COMP-3 OCCURS 3.
      05 L OCCURS 2 TIMES.
         10 DC PIC 9(2).
         10 QTY PIC 9(3).`);
    const bytes = Buffer.concat([packed(1, 3), packed(-2, 3), packed(3, 3), zoned(10, 2), zoned(5, 3), zoned(11, 2), zoned(7, 3)]);
    expect(value(f, bytes)).toEqual({
      q: ['1', '-2', '3'],
      l: [
        { dc: '10', qty: '5' },
        { dc: '11', qty: '7' },
      ],
    });
  });

  const ODO = `01 R.
      05 CNT PIC 9(2).
      05 ITEM OCCURS 0 TO 4 TIMES DEPENDING ON CNT.
         10 SKU PIC X(3).
         10 QTY PIC S9(3) COMP-3.
      05 TRAILER PIC X(2).`;

  it('OCCURS DEPENDING ON: the count sets the length and later fields move', () => {
    const f = single(ODO);
    const rec = (n: number) =>
      Buffer.concat([zoned(n, 2), ...Array.from({ length: n }, (_, i) => Buffer.concat([pic(`S${i}`, 3), packed(i - 1, 3)])), pic('ZZ', 2)]);
    expect(value(f, rec(2))).toEqual({
      cnt: '2',
      item: [
        { sku: 'S0', qty: '-1' },
        { sku: 'S1', qty: '0' },
      ],
      trailer: 'ZZ',
    });
    expect(value(f, rec(0))).toEqual({ cnt: '0', item: [], trailer: 'ZZ' });
    expect(f.layout.size).toBe(2 + 4 * 5 + 2);
    expect(f.layout.variable).toBe(true);
    // RDW records of different lengths
    const data = Buffer.concat([rdw(rec(1)), rdw(rec(4)), rdw(rec(0))]);
    const out = decodeAll(fmt({ copybookText: ODO, sourceFormat: 'free', recordFormat: 'rdw' }), data);
    expect(out.map((r) => [(r.value as { item: unknown[] }).item.length, r.offset, r.end])).toEqual([
      [1, 0, 13],
      [4, 13, 41],
      [0, 41, 49],
    ]);
  });

  it('a count outside the declared range is a reject at the count field', () => {
    const [r] = one(single(ODO), Buffer.concat([zoned(5, 2), Buffer.alloc(30, 0x40)]));
    expect(r.error!.reason).toMatch(/OCCURS DEPENDING ON R.CNT = "5" is outside 0..4/);
    expect(r.error!.offset).toBe(0);
  });

  it('a message shorter than its count needs is a length mismatch', () => {
    const [r] = one(single(ODO), Buffer.concat([zoned(3, 2), pic('A', 3), packed(1, 3)]));
    expect(r.error!.reason).toMatch(/length mismatch/);
    expect(r.error!.offset).toBe(7);
  });
});

describe('REDEFINES', () => {
  const BODY = `01 R.
      05 REC-TYPE PIC X.
      05 SALE-DATA.
         10 QTY PIC S9(5) COMP-3.
         10 PRICE PIC S9(5)V99 COMP-3.
      05 ADJ-DATA REDEFINES SALE-DATA.
         10 REASON PIC X(4).
         10 DELTA PIC S9(3).
      05 TAIL PIC X(2).`;
  const opts = { redefines: { 'SALE-DATA': { field: 'REC-TYPE', when: { S: 'SALE-DATA', A: 'ADJ-DATA' } } } };
  const sale = Buffer.concat([ebcdic('S'), packed(-3, 5), packed(1999, 7), pic('ZZ', 2)]);
  const adj = Buffer.concat([ebcdic('A'), pic('DMG', 4), zoned(-12, 3, { signed: true }), pic('ZZ', 2)]);

  it('the discriminator selects the view; the other view is absent', () => {
    const f = single(BODY, opts);
    expect(value(f, sale)).toEqual({ rec_type: 'S', sale_data: { qty: '-3', price: '19.99' }, tail: 'ZZ' });
    expect(value(f, adj)).toEqual({ rec_type: 'A', adj_data: { reason: 'DMG', delta: '-12' }, tail: 'ZZ' });
    expect(f.layout.size).toBe(1 + 7 + 2);
  });

  it('an unknown discriminator is a reject with the offset; otherwise: picks a default view', () => {
    const bad = Buffer.from(sale);
    bad[0] = ebcdic('X')[0];
    const [r] = one(single(BODY, opts), bad, 'MSGID-9');
    expect(r.error!.reason).toMatch(/MSGID-9.*unknown REDEFINES discriminator R.REC-TYPE = "X" at offset 0 for R.SALE-DATA \(expected 'S', 'A'\)/);
    expect(r.error!.offset).toBe(0);
    const f = single(BODY, { redefines: { 'ADJ-DATA': { field: 'REC-TYPE', when: { A: 'ADJ-DATA' }, otherwise: 'SALE-DATA' } } });
    expect(value(f, bad)).toMatchObject({ sale_data: { qty: '-3' } });
  });

  it('without a selector the base view is authoritative and other views are null when they do not decode', () => {
    const f = single(BODY);
    expect(value(f, sale)).toEqual({ rec_type: 'S', sale_data: { qty: '-3', price: '19.99' }, adj_data: null, tail: 'ZZ' });
    expect(one(f, adj)[0].error!.reason).toMatch(/invalid packed decimal/);
  });

  it('flatten: the selected view’s fields go to the top level', () => {
    const f = single(BODY, { ...opts, flatten: true });
    expect(value(f, adj)).toEqual({ rec_type: 'A', reason: 'DMG', delta: '-12', tail: 'ZZ' });
  });

  it('several 01 records selected by a record-type field; RDW records of each length', () => {
    const text = `01 HDR-REC. 05 TYP PIC X(2). 05 STORE PIC 9(4).
01 LINE-REC. 05 TYP PIC X(2). 05 SKU PIC X(6). 05 QTY PIC S9(5) COMP-3.`;
    const o = { copybookText: text, sourceFormat: 'free' as const, recordFormat: 'rdw' as const, redefines: { 'HDR-REC': { field: 'TYP', when: { H1: 'HDR-REC', L1: 'LINE-REC' } } } };
    const data = Buffer.concat([
      rdw(Buffer.concat([ebcdic('H1'), zoned(12, 4)])),
      rdw(Buffer.concat([ebcdic('L1'), pic('SKU001', 6), packed(-4, 5)])),
      rdw(Buffer.concat([ebcdic('Z9'), zoned(12, 4)])),
    ]);
    const out = decodeAll(fmt(o), data);
    expect(out[0].value).toEqual({ typ: 'H1', store: '12' });
    expect(out[1].value).toEqual({ typ: 'L1', sku: 'SKU001', qty: '-4' });
    expect(out[2].error!.reason).toMatch(/unknown REDEFINES discriminator HDR-REC.TYP = "Z9" at offset 29/);
    expect(() => fmt({ copybookText: text, sourceFormat: 'free' })).toThrow(/has 2 records/);
    expect(value(fmt({ copybookText: text, sourceFormat: 'free', record: 'line-rec' }), Buffer.concat([ebcdic('L1'), pic('A', 6), packed(1, 5)]))).toEqual({
      typ: 'L1',
      sku: 'A',
      qty: '1',
    });
  });
});

describe('field names', () => {
  const body = '01 DTAR-REC. 05 DTAR-STORE-NO PIC 9(2).';
  it.each([
    ['snake', undefined, 'dtar_store_no'],
    ['camel', undefined, 'dtarStoreNo'],
    ['underscore', undefined, 'DTAR_STORE_NO'],
    ['cobol', undefined, 'DTAR-STORE-NO'],
    ['snake', 'DTAR-', 'store_no'],
  ] as const)('%s (dropPrefix %s)', (fieldNames, dropPrefix, key) => {
    expect(value(single(body, { fieldNames, dropPrefix }), zoned(7, 2))).toEqual({ [key]: '7' });
  });
});

describe('framing: fixed-length and RDW byte streams', () => {
  const f = single('01 R. 05 K PIC X(3). 05 P PIC S9(3) COMP-3.');
  const rec = (k: string, n: number) => Buffer.concat([pic(k, 3), packed(n, 3)]);

  it('fixed records have exact offsets; a truncated last record is a reject with its offset', () => {
    const data = Buffer.concat([rec('A', 1), rec('B', -2), rec('C', 3).subarray(0, 3)]);
    const out = decodeAll(f, data);
    expect(out.map((r) => [r.offset, r.end, r.value ?? r.error!.reason])).toEqual([
      [0, 5, { k: 'A', p: '1' }],
      [5, 10, { k: 'B', p: '-2' }],
      [10, 13, 'truncated last record: 3 of 5 bytes at offset 10'],
    ]);
    expect(out[2].error).toMatchObject({ offset: 10, file: 'in.dat' });
  });

  it('a bad record in the middle does not stop the stream', () => {
    const bad = rec('B', 2);
    bad[3] = 0xa0;
    const out = decodeAll(f, Buffer.concat([rec('A', 1), bad, rec('C', 3)]));
    expect(out.map((r) => r.error?.offset ?? 'ok')).toEqual(['ok', 8, 'ok']);
  });

  it('resumes at a checkpointed offset', () => {
    const data = Buffer.concat([rec('A', 1), rec('B', 2), rec('C', 3)]);
    const out = decodeAll(f, data.subarray(5), 4, { offset: 5 });
    expect(out.map((r) => [r.offset, r.end])).toEqual([
      [5, 10],
      [10, 15],
    ]);
  });

  it('recordLength longer than the layout skips the padding', () => {
    const g = fmt({ copybookText: '01 R. 05 K PIC X(3).', sourceFormat: 'free', recordLength: 5 });
    const out = decodeAll(g, Buffer.concat([pic('A', 5), pic('B', 5)]));
    expect(out.map((r) => r.value)).toEqual([{ k: 'A' }, { k: 'B' }]);
  });

  it('RDW: records with their RDW in raw/offset; length mismatch; truncated; broken RDW swallows the rest', () => {
    const g = fmt({ copybookText: '01 R. 05 K PIC X(3). 05 P PIC S9(3) COMP-3.', sourceFormat: 'free', recordFormat: 'rdw' });
    const long = Buffer.concat([rec('L', 1), pic('X', 2)]);
    const data = Buffer.concat([rdw(rec('A', 1)), rdw(long), rdw(rec('C', 3))]);
    const out = decodeAll(g, data);
    expect(out.map((r) => [r.offset, r.end, r.error?.reason ?? r.value])).toEqual([
      [0, 9, { k: 'A', p: '1' }],
      [9, 20, 'length mismatch: the record is 7 bytes but the layout decodes 5 (2 extra bytes at offset 18)'],
      [20, 29, { k: 'C', p: '3' }],
    ]);
    expect([...out[0].raw]).toEqual([...rdw(rec('A', 1))]);
    const trunc = decodeAll(g, data.subarray(0, 25));
    expect(trunc[2].error!.reason).toBe('truncated last record at offset 20: the RDW announces 5 bytes, 1 present');
    const broken = Buffer.concat([rdw(rec('A', 1)), Buffer.from([0x00, 0x02, 0, 0]), rdw(rec('C', 3))]);
    const b = decodeAll(g, broken);
    expect(b).toHaveLength(2);
    expect(b[1]).toMatchObject({ offset: 9, end: broken.length });
    expect(b[1].error!.reason).toMatch(/invalid RDW at offset 9: length 2 .* the remaining 13 bytes cannot be framed/);
  });

  it('every chunk size gives the same records (fixed and RDW, with rejects)', () => {
    const ODOTEXT = '01 R. 05 N PIC 9. 05 T OCCURS 0 TO 3 DEPENDING ON N PIC S9(3) COMP-3. 05 K PIC X(2).';
    const bad = Buffer.concat([zoned(1, 1), Buffer.from([0x1f, 0x0c]), pic('K', 2)]);
    const recs = [0, 1, 2, 3].map((n) => Buffer.concat([zoned(n, 1), ...Array.from({ length: n }, (_, i) => packed(i * 7 - 3, 3)), pic('K', 2)]));
    const rdwData = Buffer.concat([...recs.map(rdw), rdw(bad), ...recs.map(rdw), Buffer.from([0, 9, 0])]);
    const fixedFmt = single('01 R. 05 K PIC X(3). 05 P PIC S9(3) COMP-3.');
    const fixedData = Buffer.concat([rec('A', 1), rec('B', -2), Buffer.from([0xc1, 0xc1, 0xc1, 0x99, 0x9e]), rec('D', 4), Buffer.from([0xc1])]);
    for (const [format, data] of [
      [fmt({ copybookText: ODOTEXT, sourceFormat: 'free', recordFormat: 'rdw' }), rdwData],
      [fixedFmt, fixedData],
    ] as const) {
      const whole = plain(decodeAll(format, data));
      for (let chunk = 1; chunk <= data.length; chunk++) expect({ chunk, r: plain(decodeAll(format, data, chunk)) }).toEqual({ chunk, r: whole });
    }
  });
});

describe('messages', () => {
  const f = single('01 R. 05 K PIC X(3). 05 P PIC S9(3) COMP-3.');
  it('one message = one record; a longer or shorter message is a length mismatch with the message id', () => {
    expect(one(f, Buffer.concat([pic('A', 3), packed(5, 3)]))).toMatchObject([{ value: { k: 'A', p: '5' }, offset: 0, end: 5 }]);
    const [long] = one(f, Buffer.concat([pic('A', 3), packed(5, 3), pic('X', 1)]), 'AMQ-1');
    expect(long.error).toMatchObject({ offset: 5, file: 'AMQ-1' });
    expect(long.error!.reason).toMatch(/length mismatch: message AMQ-1 is 6 bytes but the layout decodes 5/);
    const [short] = one(f, pic('A', 3), 'AMQ-2');
    expect(short.error!.reason).toMatch(/length mismatch: message AMQ-2 is 3 bytes, the layout needs 5/);
    expect(short.error!.offset).toBe(3);
  });

  it('message: framed splits a payload into fixed-length records', () => {
    const g = single('01 R. 05 K PIC X(3). 05 P PIC S9(3) COMP-3.', { message: 'framed' });
    const out = g.decodeMessage(Buffer.concat([pic('A', 3), packed(1, 3), pic('B', 3), packed(2, 3), pic('C', 2)]), 'M');
    expect(out.map((r) => r.error?.reason ?? r.value)).toEqual([{ k: 'A', p: '1' }, { k: 'B', p: '2' }, 'truncated last record: 2 of 5 bytes at offset 10']);
  });
});
