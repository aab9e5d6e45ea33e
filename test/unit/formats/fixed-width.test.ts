import { describe, expect, it } from 'vitest';
import { FixedWidthFormat, type FixedWidthOptions } from '../../../runtime/formats/fixed-width.ts';
import { bytes, decode, expectChunkInvariant, expectResumeInvariant, FILE, values } from './helpers.ts';

const LAYOUT: FixedWidthOptions['columns'] = [
  { name: 'store', start: 0, length: 4 },
  { name: 'sku', start: 4, length: 8 },
  { name: 'qty', start: 14, length: 5 },
];
const fw = (o: Partial<FixedWidthOptions> = {}) => new FixedWidthFormat({ columns: LAYOUT, ...o });

describe('fixed-width: lines', () => {
  it('slices fields at their positions, trims padding, ignores gaps and trailing characters', () => {
    const data = bytes('1042ABC-1   xx00003\r\n0007Z          -2.5 EXTRA\n');
    const { records, state } = decode(fw(), data);
    expect(records).toEqual([
      {
        value: { store: '1042', sku: 'ABC-1', qty: '00003' },
        raw: '1042ABC-1   xx00003',
        line: 1,
        offset: 0,
        end: 21,
        endLine: 2,
      },
      {
        value: { store: '0007', sku: 'Z', qty: '-2.5' },
        raw: '0007Z          -2.5 EXTRA',
        line: 2,
        offset: 21,
        end: 47,
        endLine: 3,
      },
    ]);
    expect(state).toBeNull();
  });

  it('keeps padding with trim: false and supports sequential widths', () => {
    const f = new FixedWidthFormat({
      columns: [
        { name: 'a', width: 3 },
        { name: 'b', width: 2 },
        { name: 'c', start: 7, length: 1 },
      ],
      trim: false,
    });
    expect(values(decode(f, bytes('x  y zzQ\n')).records)).toEqual([{ a: 'x  ', b: 'y ', c: 'Q' }]);
  });

  it('rejects a short line naming the field that is cut (or missing)', () => {
    const { records } = decode(fw(), bytes('1042ABC-1   xx000\n1042AB\n1042ABC-1   x\n'));
    expect(records[0].error).toEqual({
      stage: 'decode',
      reason: "line is 17 characters, the layout needs 19: field 'qty' (start 14, length 5) is cut",
      file: FILE,
      line: 1,
      column: 15,
      offset: 0,
      field: 'qty',
    });
    expect(records[0].raw).toBe('1042ABC-1   xx000');
    expect(records[1].error).toMatchObject({
      reason: "line is 6 characters, the layout needs 19: field 'sku' (start 4, length 8) is cut",
      field: 'sku',
      line: 2,
    });
    expect(records[2].error).toMatchObject({
      reason: "line is 13 characters, the layout needs 19: field 'qty' (start 14, length 5) is missing",
      field: 'qty',
      column: 14,
    });
  });

  it('counts positions in characters of the decoded line (windows-1252 and UTF-8)', () => {
    const cp = Buffer.from([...Buffer.from('0001Caf'), 0xe9, ...Buffer.from('    xx00002\n')]);
    expect(values(decode(fw({ encoding: 'windows-1252' }), cp).records)).toEqual([
      { store: '0001', sku: 'Café', qty: '00002' },
    ]);
    const u = bytes('0001Café €  xx00002\n');
    const { records } = decode(fw(), u);
    expect(values(records)).toEqual([{ store: '0001', sku: 'Café €', qty: '00002' }]);
    expect(records[0].end).toBe(u.length);
  });

  it('skips empty lines unless told not to, and rejects invalid UTF-8', () => {
    const data = Buffer.concat([
      bytes('\n1042ABC-1   xx00003\n\n0001'),
      Buffer.from([0xff]),
      bytes('BCDEFGHIJ12345\n'),
    ]);
    const { records } = decode(fw(), data);
    expect(values(records)).toEqual([
      { store: '1042', sku: 'ABC-1', qty: '00003' },
      { error: 'invalid UTF-8 byte 0xFF' },
    ]);
    expect(records[1].error).toMatchObject({ line: 4, column: 5, offset: 26 });
    const kept = decode(fw({ skipEmptyLines: false }), bytes('\n1042ABC-1   xx00003\n')).records;
    expect(values(kept)).toEqual([
      { error: "line is 0 characters, the layout needs 19: field 'store' (start 0, length 4) is missing" },
      { store: '1042', sku: 'ABC-1', qty: '00003' },
    ]);
  });

  it('is chunk-size invariant and resumes after every record', () => {
    const data = Buffer.concat([
      bytes('\uFEFF1042ABC-1   xx00003\r\n'),
      bytes('short\n'),
      bytes('0002日本語     xx00004\n'),
      bytes('\r\n'),
      bytes('0003LAST      00005'),
    ]);
    const recs = expectChunkInvariant(fw(), data);
    expect(values(recs)).toEqual([
      { store: '1042', sku: 'ABC-1', qty: '00003' },
      { error: "line is 5 characters, the layout needs 19: field 'sku' (start 4, length 8) is cut" },
      { store: '0002', sku: '日本語', qty: '00004' },
      { store: '0003', sku: 'LAST', qty: '00005' },
    ]);
    expect(recs[0].offset).toBe(3);
    expectResumeInvariant(fw(), data);
  });
});

describe('fixed-width: recordLength', () => {
  const f = fw({ recordLength: 20 });
  it('cuts records of exactly recordLength bytes, no separators', () => {
    const data = bytes('1042ABC-1   xx00003 0007Z         00004X');
    const { records } = decode(f, data);
    expect(records).toEqual([
      { value: { store: '1042', sku: 'ABC-1', qty: '00003' }, raw: '1042ABC-1   xx00003 ', offset: 0, end: 20 },
      { value: { store: '0007', sku: 'Z', qty: '00004' }, raw: '0007Z         00004X', offset: 20, end: 40 },
    ]);
  });

  it('rejects a truncated last record but ignores a trailing line break', () => {
    expect(values(decode(f, bytes('1042ABC-1   xx00003 0007Z')).records)).toEqual([
      { store: '1042', sku: 'ABC-1', qty: '00003' },
      { error: 'truncated record: 5 of 20 bytes' },
    ]);
    expect(decode(f, bytes('1042ABC-1   xx00003 \r\n')).records.length).toBe(1);
  });

  it('is chunk-size invariant and resumes after every record', () => {
    const data = Buffer.from([
      ...bytes('1042ABC-1   xx00003 0007Z         00004X'),
      0xe9,
      ...bytes('01234567890123456789'),
    ]);
    const cp = fw({ recordLength: 20, encoding: 'iso-8859-1' });
    const recs = expectChunkInvariant(cp, data);
    expect(recs.length).toBe(4);
    expect(recs[2].raw).toBe('é0123456789012345678');
    expectResumeInvariant(cp, data);
  });

  it('refuses a layout longer than the record', () => {
    expect(() => fw({ recordLength: 10 })).toThrow(/layout needs 19 characters but recordLength is 10/);
  });
});
