import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../runtime/contracts/spi.ts';
import { parseCopybook, parsePicture } from '../../../runtime/formats/copybook/parser.ts';
import { fmt } from './fixtures.ts';

const LOC = { file: 'x.cpy', line: 1, column: 1 };

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('PICTURE strings', () => {
  it.each([
    ['X(8)', { kind: 'alnum', length: 8 }],
    ['XXX', { kind: 'alnum', length: 3 }],
    ['A(2)X', { kind: 'alnum', length: 3 }],
    ['9(5)', { kind: 'numeric', digits: 5, scale: 0, signed: false }],
    ['S9(9)V99', { kind: 'numeric', digits: 11, scale: 2, signed: true }],
    ['99v999', { kind: 'numeric', digits: 5, scale: 3, signed: false }],
    ['S9(3)PP', { kind: 'numeric', digits: 3, scale: -2, signed: true }],
    ['PPP99', { kind: 'numeric', digits: 2, scale: 5 }],
    ['VPP99', { kind: 'numeric', digits: 2, scale: 4 }],
    ['ZZZ9.99-', { kind: 'edited', length: 8 }],
  ])('%s', (text, want) => {
    expect(parsePicture(text, LOC)).toMatchObject(want);
  });

  it.each([
    ['9(0)', /bad repetition count/],
    ['X(3', /unbalanced/],
    ['S9V9V9', /more than one V/],
    ['N(10)', /national/],
    ['9(32)', /at most 31/],
  ])('rejects %s', (text, msg) => {
    expect(() => parsePicture(text, LOC)).toThrow(msg);
  });
});

describe('copybook structure', () => {
  it('reads fixed format: sequence numbers, comments in column 7, code ends at column 72', () => {
    const text = [
      '000100* A COMMENT LINE WITH 01 NOT-A-FIELD PIC X.                           ',
      '000200 01  REC.                                                             ',
      '000300     05 A            PIC X(4).                                        IGNORED1',
      '000400     05 B            PIC S9(5) COMP-3.                                .',
      '000500/    PAGE EJECT                                                       ',
    ].join('\n');
    const cb = parseCopybook(text, 'x.cpy');
    expect(cb.records).toHaveLength(1);
    const rec = cb.records[0];
    expect(rec.name).toBe('REC');
    expect(rec.children.map((c) => [c.name, c.size])).toEqual([
      ['A', 4],
      ['B', 3],
    ]);
    expect(rec.size).toBe(7);
  });

  it('accepts code that starts in column 7 of a six-space indented copybook (JRecord samples)', () => {
    const text = '      01 PO-Record.\n         03 Record-Type            Pic X(2).\n         03 Seq                    Pic 99v999.\n';
    const cb = parseCopybook(text, 'x.cpy');
    expect(cb.records[0].children.map((c) => c.name)).toEqual(['Record-Type', 'Seq']);
  });

  it('free format, inline *> comments, usage/sign inheritance from groups, FILLER and unnamed entries', () => {
    const cb = parseCopybook(
      `01 R.  *> the record
         05 G USAGE COMP-3.
            10 P1 PIC S9(3).
            10 P2 PIC 9(4).
         05 FILLER PIC X(2).
         05 PIC X(3).
         05 Z PIC S9(3) SIGN LEADING SEPARATE CHARACTER.
         05 W PIC S9(4) BINARY VALUE ZERO.
         88 W-ZERO VALUE 0.
         05 T PIC X(3) VALUE 'A.B'.`,
      'x.cpy',
      { sourceFormat: 'free' },
    );
    const [g, f1, f2, z, w, t] = cb.records[0].children;
    expect(g.children.map((c) => [c.usage, c.size])).toEqual([
      ['packed', 2],
      ['packed', 3],
    ]);
    expect([f1.name, f1.size, f2.name, f2.size]).toEqual([null, 2, null, 3]);
    expect(z.sign).toEqual({ leading: true, separate: true });
    expect(z.size).toBe(4);
    expect([w.usage, w.size]).toEqual(['binary', 2]);
    expect(t.size).toBe(3);
    expect(cb.records[0].size).toBe(2 + 3 + 2 + 3 + 4 + 2 + 3);
  });

  it('binary sizes: 1–4 digits 2 bytes, 5–9 four, 10–18 eight', () => {
    const cb = parseCopybook('01 R. 05 A PIC 9(4) COMP. 05 B PIC S9(5) COMP-4. 05 C PIC S9(18) COMP-5. 05 D PIC 9(9) BINARY.', 'x', {
      sourceFormat: 'free',
    });
    expect(cb.records[0].children.map((c) => c.size)).toEqual([2, 4, 8, 4]);
  });

  it('OCCURS sizes count the maximum; REDEFINES takes the larger view', () => {
    const cb = parseCopybook(
      `01 R.
         05 N PIC 9(2).
         05 T OCCURS 1 TO 5 TIMES DEPENDING ON N.
            10 A PIC X(3).
         05 B PIC X(4).
         05 C REDEFINES B PIC 9(4).
         05 D OCCURS 3 PIC S9(3) COMP-3.`,
      'x',
      { sourceFormat: 'free' },
    );
    const r = cb.records[0];
    expect(r.size).toBe(2 + 15 + 4 + 6);
    expect(r.variable).toBe(true);
  });

  it('several 01 records are alternatives', () => {
    const cb = parseCopybook('01 A. 05 T PIC X. 05 X PIC X(3).\n01 B. 05 T PIC X. 05 Y PIC 9(5).', 'x', { sourceFormat: 'free' });
    expect(cb.records.map((r) => [r.name, r.size])).toEqual([
      ['A', 4],
      ['B', 6],
    ]);
  });
});

describe('copybook errors are ConfigErrors at line and column', () => {
  const at = (text: string) => configError(() => parseCopybook(text, 'bad.cpy', { sourceFormat: 'free' }));

  it('unknown clause', () => {
    const e = at('01 R.\n   05 A PIC X(2) FOO.');
    expect(e.location).toEqual({ file: 'bad.cpy', line: 2, column: 18 });
    expect(e.message).toMatch(/unknown clause 'FOO'/);
  });

  it('bad picture, with the picture position', () => {
    const e = at('01 R.\n  05 A PIC 9(X).');
    expect(e.location).toMatchObject({ line: 2, column: 12 });
    expect(e.message).toMatch(/PICTURE 9\(X\)/);
  });

  it('missing period before the next entry', () => {
    const e = at('01 R.\n  05 A PIC X(2)\n  05 B PIC X.');
    expect(e.location).toMatchObject({ line: 3, column: 3 });
  });

  it('group with a PICTURE and children', () => {
    const e = at('01 R.\n 05 G PIC X(2).\n   10 A PIC X.');
    expect(e.message).toMatch(/cannot have subordinate items/);
    expect(e.location).toMatchObject({ line: 3 });
  });

  it('REDEFINES of something that is not the preceding item', () => {
    const e = at('01 R.\n 05 A PIC X(2).\n 05 B PIC X(2).\n 05 C REDEFINES A PIC 9(2).');
    expect(e.message).toMatch(/REDEFINES A/);
    expect(e.location).toMatchObject({ line: 4, column: 5 });
  });

  it('COMP-3 on text, SIGN on unsigned, SYNC, COMP-1, level 66, COPY', () => {
    expect(at('01 R. 05 A PIC X(2) COMP-3.').message).toMatch(/not numeric/);
    expect(at('01 R. 05 A PIC 9(2) SIGN LEADING SEPARATE.').message).toMatch(/SIGN applies/);
    expect(at('01 R. 05 A PIC S9(4) COMP SYNC.').message).toMatch(/SYNCHRONIZED/);
    expect(at('01 R. 05 A COMP-1.').message).toMatch(/floating point/);
    expect(at('01 R. 05 A PIC X. 66 B RENAMES A.').message).toMatch(/RENAMES/);
    expect(at('COPY OTHER.').message).toMatch(/COPY/);
  });

  it('unknown DEPENDING ON and ambiguous names are ConfigErrors when binding', () => {
    expect(() => fmt({ copybookText: '01 R. 05 T OCCURS 1 TO 3 DEPENDING ON NOPE PIC X.', sourceFormat: 'free' })).toThrow(/no item named NOPE/);
    expect(() => fmt({ copybookText: '01 R. 05 T OCCURS 1 TO 3 PIC X.', sourceFormat: 'free' })).toThrow(/needs DEPENDING ON/);
  });

  it('two fields with the same output name', () => {
    expect(() => fmt({ copybookText: '01 R. 05 G1. 10 A PIC X. 05 G2. 10 A PIC X.', sourceFormat: 'free', flatten: true })).toThrow(
      /same name 'a'/,
    );
  });

  it('a copybook file that does not exist', () => {
    expect(() => fmt({ copybook: 'nope.cpy' }, '/tmp')).toThrow(/cannot read \/tmp\/nope.cpy/);
  });
});
