import { describe, expect, it } from 'vitest';
import { CsvFormat, type CsvOptions } from '../../../runtime/formats/csv.ts';
import {
  bytes,
  decode,
  expectChunkInvariant,
  expectResumeInvariant,
  FILE,
  offsetOf,
  plain,
  values,
} from './helpers.ts';

const csv = (o: CsvOptions = {}) => new CsvFormat(o);

describe('csv: records, offsets and lines', () => {
  it('decodes a header and rows with exact offsets, lines and raw text', () => {
    const data = bytes('store,sku,qty\n1,A,3\n2,B,4\n');
    const { records, state } = decode(csv(), data);
    expect(records).toEqual([
      { value: { store: '1', sku: 'A', qty: '3' }, raw: '1,A,3', line: 2, offset: 14, end: 20, endLine: 3 },
      { value: { store: '2', sku: 'B', qty: '4' }, raw: '2,B,4', line: 3, offset: 20, end: 26, endLine: 4 },
    ]);
    expect(state).toEqual({ header: ['store', 'sku', 'qty'] });
  });

  it('handles CRLF, a UTF-8 BOM and a last line without terminator', () => {
    const data = bytes('\uFEFFa,b\r\n1,2\r\n3,4');
    const { records } = decode(csv(), data);
    expect(records).toEqual([
      { value: { a: '1', b: '2' }, raw: '1,2', line: 2, offset: 8, end: 13, endLine: 3 },
      { value: { a: '3', b: '4' }, raw: '3,4', line: 3, offset: 13, end: 16, endLine: 3 },
    ]);
  });

  it('treats a file ending in a lone CR (cut CRLF) as a terminated last line', () => {
    const { records } = decode(csv(), bytes('a,b\n1,2\r'));
    expect(records).toEqual([{ value: { a: '1', b: '2' }, raw: '1,2', line: 2, offset: 4, end: 8, endLine: 2 }]);
  });

  it('decodes quoted fields: delimiters, doubled quotes, LF and CRLF inside quotes, empty quoted field', () => {
    const data = bytes('id,text,n\r\n1,"a,b ""c""",x\r\n2,"line1\nline2\r\nline3",y\r\n3,"",z\r\n');
    const { records } = decode(csv(), data);
    expect(values(records)).toEqual([
      { id: '1', text: 'a,b "c"', n: 'x' },
      { id: '2', text: 'line1\nline2\r\nline3', n: 'y' },
      { id: '3', text: '', n: 'z' },
    ]);
    expect(records.map((r) => [r.line, r.endLine, r.offset, r.end])).toEqual([
      [2, 3, 11, 28],
      [3, 6, 28, offsetOf(data, '3,"",z')],
      [6, 7, offsetOf(data, '3,"",z'), data.length],
    ]);
    expect(records[1].raw).toBe('2,"line1\nline2\r\nline3",y');
  });

  it('counts byte offsets of multi-byte UTF-8 text exactly', () => {
    const data = bytes('name,price\nCafé crème,€3\n"日本,語",😀\nx,y\n');
    const { records } = decode(csv(), data);
    expect(values(records)).toEqual([
      { name: 'Café crème', price: '€3' },
      { name: '日本,語', price: '😀' },
      { name: 'x', price: 'y' },
    ]);
    expect(records.map((r) => r.offset)).toEqual([11, offsetOf(data, '"日本'), offsetOf(data, 'x,y')]);
    expect(records.map((r) => r.end)).toEqual([offsetOf(data, '"日本'), offsetOf(data, 'x,y'), data.length]);
    // Every record's raw text is exactly its bytes without the line terminator.
    for (const r of records) expect(Buffer.from(r.raw as string).length).toBe(r.end - r.offset - 1);
  });

  it('keeps exact byte offsets in large chunks with scattered multi-byte characters', () => {
    const lines = ['id,text\n'];
    const odd = ['é', '€', '😀', 'Ω', '日本'];
    for (let i = 0; i < 400; i++)
      lines.push(i % 37 === 0 ? `${i},"x${odd[i % 5]}\ny"\n` : `${i},plain ascii text ${i}\n`);
    const data = bytes(lines.join(''));
    for (const chunk of [Number.POSITIVE_INFINITY, 4096, 997]) {
      const { records } = decode(csv(), data, chunk);
      expect(records.length).toBe(400);
      let at = 8;
      for (const r of records) {
        expect(r.offset).toBe(at);
        expect(data.subarray(r.offset, r.end - 1).toString()).toBe(r.raw);
        at = r.end;
      }
      expect(at).toBe(data.length);
      expect(records[37].value).toEqual({ id: '37', text: `x${odd[2]}\ny` });
    }
  });

  it('keeps a quote inside an unquoted field as an ordinary character', () => {
    const { records } = decode(csv(), bytes('sku,desc\n1,5" screen\n2,a"b"c\n'));
    expect(values(records)).toEqual([
      { sku: '1', desc: '5" screen' },
      { sku: '2', desc: 'a"b"c' },
    ]);
  });

  it('skips empty lines by default and keeps their line numbers', () => {
    const { records } = decode(csv(), bytes('a,b\n\n1,2\r\n\r\n\n3,4\n'));
    expect(records.map((r) => [r.line, r.value])).toEqual([
      [3, { a: '1', b: '2' }],
      [6, { a: '3', b: '4' }],
    ]);
  });

  it('with skipEmptyLines: false, an empty line is a one-field record (ragged for a wider header)', () => {
    const { records } = decode(csv({ skipEmptyLines: false }), bytes('a,b\n1,2\n\n3,4\n'));
    expect(values(records)).toEqual([{ a: '1', b: '2' }, { error: 'expected 2 fields, got 1' }, { a: '3', b: '4' }]);
    const one = decode(csv({ skipEmptyLines: false }), bytes('a\n1\n\n2\n')).records;
    expect(values(one)).toEqual([{ a: '1' }, { a: '' }, { a: '2' }]);
    expect(one[1]).toMatchObject({ line: 3, offset: 4, end: 5, endLine: 4, raw: '' });
    // Blank lines before the header are skipped anyway.
    expect(values(decode(csv({ skipEmptyLines: false }), bytes('\n\r\na\n1\n')).records)).toEqual([{ a: '1' }]);
  });

  it('skips comment lines and applies trim', () => {
    const { records } = decode(csv({ comment: '#', trim: true }), bytes('# exported 2026\na , b\n#x,y\n 1 , "q " ,\n'));
    expect(values(records)).toEqual([{ error: 'expected 2 fields, got 3' }]);
    const ok = decode(csv({ comment: '#', trim: true }), bytes('# exported 2026\na , b\n#x\n 1 ,  "q "  \n')).records;
    expect(values(ok)).toEqual([{ a: '1', b: 'q ' }]);
    expect(ok[0].line).toBe(4);
  });

  it('supports other delimiters, quotes and a backslash escape', () => {
    expect(values(decode(csv({ delimiter: ';' }), bytes('a;b\n1,5;"x;y"\n')).records)).toEqual([
      { a: '1,5', b: 'x;y' },
    ]);
    expect(values(decode(csv({ delimiter: '\t' }), bytes('a\tb\n1\t2\n')).records)).toEqual([{ a: '1', b: '2' }]);
    expect(values(decode(csv({ quote: "'" }), bytes('a,b\n\'x,y\',"z"\n')).records)).toEqual([{ a: 'x,y', b: '"z"' }]);
    const esc = decode(csv({ escape: '\\' }), bytes('a,b\n"say \\"hi\\"","c:\\\\dir\\n"\n')).records;
    expect(values(esc)).toEqual([{ a: 'say "hi"', b: 'c:\\dir\\n' }]);
  });

  it('names fields from declared columns (no header by default then)', () => {
    const { records, state } = decode(csv({ columns: ['store', 'qty'] }), bytes('1,2\n3,4\n'));
    expect(values(records)).toEqual([
      { store: '1', qty: '2' },
      { store: '3', qty: '4' },
    ]);
    expect(records[0].line).toBe(1);
    expect(state).toBeNull();
  });

  it('header: true with columns skips the header row and uses the declared names', () => {
    const { records } = decode(csv({ header: true, columns: ['s', 'q'] }), bytes('Store,Qty\n1,2\n'));
    expect(values(records)).toEqual([{ s: '1', q: '2' }]);
  });

  it('maps header aliases case-insensitively, names blank headers and suffixes duplicates', () => {
    const f = csv({ headerAliases: { store: ['Store No', 'store_no'], qty: ['Quantity'] } });
    for (const h of ['Store No', 'store_no', 'STORE', ' store no ']) {
      expect(values(decode(f, bytes(`${h},QUANTITY\n1,2\n`)).records)).toEqual([{ store: '1', qty: '2' }]);
    }
    const odd = decode(csv(), bytes('a,,a,a_2\n1,2,3,4\n')).records;
    expect(values(odd)).toEqual([{ a: '1', column2: '2', a_3: '3', a_2: '4' }]);
  });

  it('makes a __proto__ header an own property, not a prototype', () => {
    const { records } = decode(csv(), bytes('__proto__,x\n1,2\n'));
    const v = records[0].value as Record<string, string>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'x']);
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).toBe('1');
    expect(v.x).toBe('2');
  });

  it('decodes a message payload with declared columns, several lines, string or bytes', () => {
    const f = csv({ columns: ['sku', 'qty'] });
    const recs = f.decodeMessage('A,1\r\nB,2', 'mq:42');
    expect(recs).toEqual([
      { value: { sku: 'A', qty: '1' }, raw: 'A,1', line: 1, offset: 0, end: 5, endLine: 2 },
      { value: { sku: 'B', qty: '2' }, raw: 'B,2', line: 2, offset: 5, end: 8, endLine: 2 },
    ]);
    expect(f.decodeMessage(bytes('C,3\n'), 'k')).toMatchObject([{ value: { sku: 'C', qty: '3' } }]);
    const bad = f.decodeMessage('A,1,2', 'mq:43');
    expect(bad[0].error).toMatchObject({ stage: 'decode', file: 'mq:43', reason: 'expected 2 fields, got 3' });
  });
});

describe('csv: encodings', () => {
  it('decodes windows-1252 (é, €, curly quotes) with byte offsets', () => {
    // "Café" = 43 61 66 E9, "€5" = 80 35, ‘x’ = 91 78 92
    const data = Buffer.from([
      ...Buffer.from('name,price\n'),
      0x43,
      0x61,
      0x66,
      0xe9,
      0x2c,
      0x80,
      0x35,
      0x0a,
      0x91,
      0x78,
      0x92,
      0x2c,
      0x31,
      0x0a,
    ]);
    const { records } = decode(csv({ encoding: 'windows-1252' }), data);
    expect(records).toEqual([
      { value: { name: 'Café', price: '€5' }, raw: 'Café,€5', line: 2, offset: 11, end: 19, endLine: 3 },
      { value: { name: '‘x’', price: '1' }, raw: '‘x’,1', line: 3, offset: 19, end: 25, endLine: 4 },
    ]);
    // Same bytes agree with the WHATWG decoder.
    expect((records[0].value as Record<string, string>).price).toBe(
      new TextDecoder('windows-1252').decode(Buffer.from([0x80, 0x35])),
    );
  });

  it('decodes iso-8859-1 byte for byte (0x80 stays U+0080)', () => {
    const data = Buffer.from([...Buffer.from('a,b\n'), 0xe9, 0x2c, 0x80, 0x0a]);
    const { records } = decode(csv({ encoding: 'iso-8859-1' }), data);
    expect(records[0]).toEqual({
      value: { a: 'é', b: '\u0080' },
      raw: 'é,\u0080',
      line: 2,
      offset: 4,
      end: 8,
      endLine: 3,
    });
    expect(decode(csv({ encoding: 'latin1' }), data).records).toEqual(records);
  });

  it('does not strip a UTF-8 BOM in single-byte encodings', () => {
    const data = Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('a\n1\n')]);
    expect(decode(csv({ encoding: 'iso-8859-1' }), data).records[0].value).toEqual({ 'ï»¿a': '1' });
  });

  it('rejects a record with invalid UTF-8, reporting line, column and the bad byte, and keeps going', () => {
    const data = Buffer.concat([bytes('a,b\n1,ok\n2,"x\nyé'), Buffer.from([0xc3, 0x28]), bytes('z"\n3,é\n')]);
    const { records } = decode(csv(), data);
    expect(values(records)).toEqual([{ a: '1', b: 'ok' }, { error: 'invalid UTF-8 byte 0xC3' }, { a: '3', b: 'é' }]);
    const bad = records[1];
    expect(bad.error).toEqual({
      stage: 'decode',
      reason: 'invalid UTF-8 byte 0xC3',
      file: FILE,
      line: 4,
      column: 3,
      offset: offsetOf(data, [0xc3, 0x28]),
    });
    expect(bad).toMatchObject({ line: 3, offset: 9, end: offsetOf(data, '3,'), endLine: 5 });
    expect(Buffer.from(bad.raw as Uint8Array)).toEqual(data.subarray(9, offsetOf(data, '3,') - 1));
  });

  it('rejects a truncated multi-byte sequence at the end of the input', () => {
    const data = Buffer.concat([bytes('a\nx\ny'), Buffer.from([0xe2, 0x82])]);
    const { records } = decode(csv(), data);
    expect(values(records)).toEqual([{ a: 'x' }, { error: 'invalid UTF-8 byte 0xE2' }]);
    expect(records[1].error).toMatchObject({ line: 3, column: 2, offset: 5 });
  });
});

describe('csv: broken input', () => {
  it('rejects ragged rows naming expected and actual counts, the column and the missing field', () => {
    const { records } = decode(csv(), bytes('a,b,c\n1,2\n1,2,3,4\n5,6,7\n'));
    expect(records[0].error).toEqual({
      stage: 'decode',
      reason: 'expected 3 fields, got 2',
      file: FILE,
      line: 2,
      column: 3,
      offset: 6,
      field: 'c',
    });
    expect(records[0]).toMatchObject({ raw: '1,2', offset: 6, end: 10 });
    expect(records[1].error).toMatchObject({ reason: 'expected 3 fields, got 4', line: 3, column: 4, offset: 10 });
    expect(records[2].value).toEqual({ a: '5', b: '6', c: '7' });
  });

  it('unterminated quote at end of input: rejects through the line where the quote opened, then resyncs', () => {
    const data = bytes('a,b\n1,"open\n2,x\n3,y\n');
    const { records } = decode(csv(), data);
    expect(records[0]).toEqual({
      error: {
        stage: 'decode',
        reason: 'unterminated quoted field (quote opened at line 2, column 3)',
        file: FILE,
        line: 2,
        column: 3,
        offset: 6,
      },
      raw: '1,"open',
      line: 2,
      offset: 4,
      end: 12,
      endLine: 3,
    });
    expect(values(records.slice(1))).toEqual([
      { a: '2', b: 'x' },
      { a: '3', b: 'y' },
    ]);
  });

  it('a character after a closing quote rejects through the end of that line', () => {
    // The stray quote on line 2 pairs with the first quote of line 3: the error shows up on line 3.
    const data = bytes('a,b\n1,"5 inch\n2,"ok"\n3,z\n');
    const { records } = decode(csv(), data);
    expect(records[0]).toMatchObject({
      error: {
        reason: expect.stringContaining('unexpected character "o" after the closing quote'),
        line: 3,
        column: 4,
      },
      raw: '1,"5 inch\n2,"ok"',
      line: 2,
      endLine: 4,
    });
    expect(values(records.slice(1))).toEqual([{ a: '3', b: 'z' }]);
    const same = decode(csv(), bytes('a,b\n1,"x"y,2\n3,z\n')).records;
    expect(same[0]).toMatchObject({ raw: '1,"x"y,2', error: { line: 2, column: 6, offset: 9 } });
    expect(values(same.slice(1))).toEqual([{ a: '3', b: 'z' }]);
  });

  it('a broken header row rejects the header and every following record, also after a resume', () => {
    const data = bytes('a,"b\n1,2\n');
    const { records, state } = decode(csv(), data);
    expect(values(records)).toEqual([
      { error: 'header row rejected: unterminated quoted field (quote opened at line 1, column 3)' },
      { error: 'no usable header (the header row at line 1 was rejected)' },
    ]);
    expect(state).toEqual({ header: null, headerError: 'no usable header (the header row at line 1 was rejected)' });
    expectResumeInvariant(csv(), data);
  });

  it('refuses to resume a headed file without the header state', () => {
    expect(() => csv().streamDecoder({ file: FILE, offset: 10, line: 2 })).toThrow(/without the header row/);
    expect(() => csv({ columns: ['a'] }).streamDecoder({ file: FILE, offset: 10, line: 2 })).not.toThrow();
  });
});

describe('csv: maxRecordBytes', () => {
  it('skips an over-long line without buffering it, then continues', () => {
    const f = csv({ maxRecordBytes: 64 });
    const long = 'x'.repeat(100_000);
    const data = bytes(`a,b\n1,2\n${long},3\n4,5\n`);
    const d = f.streamDecoder({ file: FILE, offset: 0, line: 1 });
    const out = [];
    for (let o = 0; o < data.length; o += 1000) out.push(...d.push(data.subarray(o, o + 1000)));
    out.push(...d.end());
    expect(values(out)).toEqual([
      { a: '1', b: '2' },
      { error: 'record is longer than maxRecordBytes (64 bytes)' },
      { a: '4', b: '5' },
    ]);
    expect(out[1]).toMatchObject({ line: 3, offset: 8, end: 8 + long.length + 3, endLine: 4, raw: 'x'.repeat(64) });
    expect(out[2].line).toBe(4);
  });

  it('gives the same records whatever the chunking, for over-long quoted and unquoted records', () => {
    const f = csv({ maxRecordBytes: 24 });
    const data = bytes(
      'a,b\n1,"short"\n2,"a quoted field that goes on\nand on past the limit"\n3,ok\n' +
        '4,unquoted but far too long for the limit\n5,"é x"\n6,"never closed, this one\n7,z\n8,"ab""cd"\n',
    );
    const recs = expectChunkInvariant(f, data);
    expect(values(recs)).toEqual([
      { a: '1', b: 'short' },
      { error: 'quoted field opened at line 3, column 3 is not closed within maxRecordBytes (24 bytes)' },
      { error: 'expected 2 fields, got 1' }, // 'and on past the limit"' resynchronised on the next line
      { a: '3', b: 'ok' },
      { error: 'record is longer than maxRecordBytes (24 bytes)' },
      { a: '5', b: 'é x' },
      { error: 'quoted field opened at line 8, column 3 is not closed within maxRecordBytes (24 bytes)' },
      { a: '7', b: 'z' },
      { a: '8', b: 'ab"cd' },
    ]);
    expectResumeInvariant(f, data);
  });
});

describe('csv: chunking and resume', () => {
  const nasty = Buffer.concat([
    bytes('\uFEFFstore,sku,desc,qty\r\n'),
    bytes('1,A,"comma, and ""quote""",3\r\n'),
    bytes('2,B,"multi\r\nline é € 😀",4\r\n'),
    bytes('\r\n'),
    bytes('3,C,5" screen,5\n'),
    bytes('4,D,ragged\n'),
    bytes('5,E,"bad"x,6\n'),
    bytes('6,F,'),
    Buffer.from([0xff]),
    bytes(',7\n'),
    bytes('7,G,"日本語",8\r\n'),
    bytes('8,H,"unterminated,9\n'),
    bytes('9,I,last,10'),
  ]);

  it('decodes the same records for every chunk size', () => {
    const recs = expectChunkInvariant(csv(), nasty);
    expect(values(recs)).toEqual([
      { store: '1', sku: 'A', desc: 'comma, and "quote"', qty: '3' },
      { store: '2', sku: 'B', desc: 'multi\r\nline é € 😀', qty: '4' },
      { store: '3', sku: 'C', desc: '5" screen', qty: '5' },
      { error: 'expected 4 fields, got 3' },
      { error: expect.stringContaining('unexpected character "x"') },
      { error: 'invalid UTF-8 byte 0xFF' },
      { store: '7', sku: 'G', desc: '日本語', qty: '8' },
      { error: 'unterminated quoted field (quote opened at line 11, column 5)' },
      { store: '9', sku: 'I', desc: 'last', qty: '10' },
    ]);
    // Records tile the file: each starts where the previous one ended, except for skipped empty lines.
    expect(recs[0].offset).toBe(3 + 'store,sku,desc,qty\r\n'.length);
    expect(recs.at(-1)!.end).toBe(nasty.length);
    expect(recs.map((r) => r.line)).toEqual([2, 3, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('resumes after every record with exactly the records that follow', () => {
    expectResumeInvariant(csv(), nasty, [Number.POSITIVE_INFINITY, 5]);
  });

  it('resumes with declared columns and with windows-1252', () => {
    expectResumeInvariant(csv({ columns: ['x', 'y'] }), bytes('1,2\n"a\nb",c\n3,4'));
    const data = Buffer.from([
      ...Buffer.from('a,b\n'),
      0xe9,
      0x2c,
      0x80,
      0x0a,
      0x22,
      0x0a,
      0x80,
      0x22,
      0x2c,
      0x31,
      0x0a,
    ]);
    expectChunkInvariant(csv({ encoding: 'windows-1252' }), data);
    expectResumeInvariant(csv({ encoding: 'windows-1252' }), data);
  });

  it('produces plain JSON-serialisable records', () => {
    const recs = plain(decode(csv(), nasty).records);
    expect(recs.length).toBe(9);
  });
});

describe('csv: memory', () => {
  it('keeps only the partial record between chunks, whatever the input size', () => {
    const d = csv().streamDecoder({ file: FILE, offset: 0, line: 1 });
    const line = bytes('1042,2026-11-21,07,000123456,3,4006381333931,ACME Drill 18V,2,12.99,25.98\n');
    d.push(bytes('store,date,pos,receipt,line,sku,desc,qty,price,amount\n'));
    const chunk = Buffer.concat(Array.from({ length: 800 }, () => line)); // ~60 KiB
    let n = 0;
    for (let i = 0; i < 200; i++) {
      // Split inside a line so a partial record is carried every time.
      n += d.push(chunk.subarray(0, chunk.length - 10)).length;
      n += d.push(chunk.subarray(chunk.length - 10)).length;
    }
    expect(n).toBe(160_000);
    expect(d.bufferedBytes).toBeLessThanOrEqual(2 * chunk.length);
  });
});
