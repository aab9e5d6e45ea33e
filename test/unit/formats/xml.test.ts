import { describe, expect, it } from 'vitest';
import { XmlFormat, type XmlOptions } from '../../../runtime/formats/xml.ts';
import { bytes, decode, expectChunkInvariant, expectResumeInvariant, FILE, offsetOf, values } from './helpers.ts';

const xml = (recordPath = '/Orders/Order', o: Partial<XmlOptions> = {}) => new XmlFormat({ recordPath, ...o });

describe('xml: records', () => {
  it('turns record elements into objects with exact byte offsets and lines', () => {
    const doc =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Orders batch="7">\n' +
      '  <Order id="1"><Store>1042</Store><Line no="1"><Sku>A</Sku></Line><Line no="2"><Sku>B</Sku></Line></Order>\n' +
      '  <Order id="2">\n    <Note>Café &amp; <![CDATA[<crème>]]></Note>\n    <Empty/>\n  </Order>\n</Orders>\n';
    const data = bytes(doc);
    const { records, state } = decode(xml(), data);
    const o1 = offsetOf(data, '<Order id="1"');
    const o2 = offsetOf(data, '<Order id="2"');
    expect(records).toEqual([
      {
        value: {
          '@id': '1',
          Store: '1042',
          Line: [
            { '@no': '1', Sku: 'A' },
            { '@no': '2', Sku: 'B' },
          ],
        },
        raw: '<Order id="1"><Store>1042</Store><Line no="1"><Sku>A</Sku></Line><Line no="2"><Sku>B</Sku></Line></Order>',
        line: 3,
        offset: o1,
        end: o1 + 105,
        endLine: 3,
      },
      {
        value: { '@id': '2', Note: 'Café & <crème>', Empty: '' },
        raw: '<Order id="2">\n    <Note>Café &amp; <![CDATA[<crème>]]></Note>\n    <Empty/>\n  </Order>',
        line: 4,
        offset: o2,
        end: offsetOf(data, '\n</Orders>'),
        endLine: 7,
      },
    ]);
    // Byte offsets, not char offsets: the record's bytes are exactly its raw text.
    for (const r of records) expect(data.subarray(r.offset, r.end).toString()).toBe(r.raw);
    // Encoding, ancestors, and where (offset, 0-based column) the last record ended.
    expect(state).toEqual({ encoding: 'utf-8', ancestors: ['Orders'], at: records[1].end, col: 10 });
  });

  it('keeps #text next to attributes or children, and gives leaf records a #text', () => {
    const { records } = decode(xml('/R/O'), bytes('<R><O a="1">x<B>y</B> z </O><O>plain</O><O/></R>'));
    expect(values(records)).toEqual([{ '@a': '1', B: 'y', '#text': 'x z ' }, { '#text': 'plain' }, { '#text': '' }]);
  });

  it('makes alwaysArray elements arrays even when single', () => {
    const { records } = decode(
      xml('/Orders/Order', { alwaysArray: ['Line'] }),
      bytes('<Orders><Order><Line>1</Line></Order></Orders>'),
    );
    expect(values(records)).toEqual([{ Line: ['1'] }]);
  });

  it('strips namespace prefixes by default, matches the path by local name, and can keep prefixes', () => {
    const doc = bytes(
      '<n:Orders xmlns:n="urn:x" xmlns="urn:d"><n:Order n:id="1"><n:Sku>A</n:Sku></n:Order></n:Orders>',
    );
    expect(values(decode(xml(), doc).records)).toEqual([{ '@id': '1', Sku: 'A' }]);
    expect(values(decode(xml('/n:Orders/n:Order', { keepPrefixes: true }), doc).records)).toEqual([
      { '@n:id': '1', 'n:Sku': 'A' },
    ]);
    expect(values(decode(xml('/Orders/m:Order'), doc).records)).toEqual([]);
  });

  it('matches * ancestors and follows records across different parents', () => {
    const doc = bytes(
      '<Doc><Batch n="1"><Order>a</Order></Batch><Other><Order>b</Order></Other><Order>top</Order></Doc>',
    );
    expect(values(decode(xml('/Doc/*/Order'), doc).records)).toEqual([{ '#text': 'a' }, { '#text': 'b' }]);
    expect(values(decode(xml('/Doc/Order'), doc).records)).toEqual([{ '#text': 'top' }]);
    // Records under different parents resume correctly even with the state taken after a later record.
    expectResumeInvariant(
      xml('/Doc/*/Order'),
      bytes('<Doc><Batch><Order>a</Order></Batch>\n<Other><Order>b</Order><Order>c</Order></Other></Doc>'),
    );
  });

  it('does not mistake an own property for __proto__', () => {
    const { records } = decode(
      xml('/R/O'),
      bytes('<R><O><__proto__>x</__proto__></O><O><__proto__>y</__proto__><__proto__>z</__proto__></O></R>'),
    );
    const v = records[0].value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).toBe('x');
    expect(Object.getOwnPropertyDescriptor(records[1].value, '__proto__')?.value).toEqual(['y', 'z']);
  });

  it('decodes message payloads', () => {
    const recs = xml('/Msg/Item').decodeMessage('<Msg><Item>1</Item><Item>2</Item></Msg>', 'mq:1');
    expect(values(recs)).toEqual([{ '#text': '1' }, { '#text': '2' }]);
    expect(recs[1]).toMatchObject({ offset: 19, end: 33, line: 1 });
  });
});

describe('xml: encodings', () => {
  it('follows the XML declaration (iso-8859-1, windows-1252)', () => {
    const body = (enc: string) =>
      Buffer.concat([
        bytes(`<?xml version="1.0" encoding="${enc}"?><R><O>Caf`),
        Buffer.from([0xe9, 0x20, 0x80]),
        bytes('</O></R>'),
      ]);
    expect(values(decode(xml('/R/O'), body('ISO-8859-1')).records)).toEqual([{ '#text': 'Café \u0080' }]);
    const w = decode(xml('/R/O'), body('windows-1252')).records;
    expect(values(w)).toEqual([{ '#text': 'Café €' }]);
    expect(w[0]).toMatchObject({ offset: 48, end: 48 + 3 + 6 + 4 });
    // An explicit encoding wins over the declaration.
    expect(values(decode(xml('/R/O', { encoding: 'iso-8859-1' }), body('windows-1252')).records)).toEqual([
      { '#text': 'Café \u0080' },
    ]);
  });

  it('skips a UTF-8 BOM and counts it in offsets', () => {
    const { records } = decode(xml('/R/O'), bytes('\uFEFF<R><O>é</O></R>'));
    expect(records[0]).toMatchObject({ value: { '#text': 'é' }, offset: 6, end: 15 });
  });

  it('rejects UTF-16 and undeclared encodings as a whole', () => {
    const u16 = decode(xml('/R/O'), Buffer.from('\uFEFF<R><O>1</O></R>', 'utf16le')).records;
    expect(values(u16)).toEqual([{ error: 'UTF-16 input is not supported (convert the file to UTF-8)' }]);
    const ebc = decode(xml('/R/O'), bytes('<?xml version="1.0" encoding="IBM037"?><R/>')).records;
    expect(values(ebc)).toEqual([
      { error: "unsupported encoding 'IBM037' declared (supported: utf-8, iso-8859-1, windows-1252)" },
    ]);
  });

  it('rejects the record holding invalid UTF-8 and continues', () => {
    const data = Buffer.concat([bytes('<R><O>a</O><O>b'), Buffer.from([0xff]), bytes('c</O><O>d</O></R>')]);
    const { records } = decode(xml('/R/O'), data);
    expect(values(records)).toEqual([{ '#text': 'a' }, { error: 'invalid UTF-8 byte 0xFF' }, { '#text': 'd' }]);
    expect(records[1].error).toMatchObject({ line: 1, column: 16, offset: 15 });
    expect(records[1]).toMatchObject({ offset: 11, end: 21 }); // up to the next record
  });
});

describe('xml: broken input', () => {
  it('rejects a malformed record up to the next record start, then decodes the rest', () => {
    const doc =
      '<Orders>\n<Order id="1"><A>1</A></Order>\n<Order id="2"><A>2</B></Order>\n<Order id="3"><A>3</A></Order>\n</Orders>';
    const data = bytes(doc);
    const { records } = decode(xml(), data);
    expect(values(records)).toEqual([
      { '@id': '1', A: '1' },
      { error: 'XML not well-formed: unexpected close tag.' },
      { '@id': '3', A: '3' },
    ]);
    expect(records[1]).toMatchObject({
      raw: '<Order id="2"><A>2</B></Order>\n',
      line: 3,
      offset: offsetOf(data, '<Order id="2"'),
      end: offsetOf(data, '<Order id="3"'),
      endLine: 4,
      error: { line: 3, column: 23, offset: offsetOf(data, '</B>') + 4 }, // just past the bad close tag
    });
  });

  it('recovers from a bare & that the parser only notices much later', () => {
    const data = bytes('<R><O>a & b</O><O>c</O><O>d;</O><O>e</O></R>');
    const { records } = decode(xml('/R/O'), data);
    expect(values(records)).toEqual([
      { error: expect.stringContaining('XML not well-formed') },
      { '#text': 'c' },
      { '#text': 'd;' },
      { '#text': 'e' },
    ]);
    expect(records[0]).toMatchObject({ raw: '<O>a & b</O>', offset: 3, end: 15 });
  });

  it('reports a truncated document and garbage after the root', () => {
    const t = decode(xml('/R/O'), bytes('<R><O>a</O><O>b')).records;
    expect(values(t)).toEqual([{ '#text': 'a' }, { error: 'XML not well-formed: unclosed tag: O' }]);
    expect(t[1]).toMatchObject({ raw: '<O>b', offset: 11, end: 15 });
    const g = decode(xml('/R/O'), bytes('<R><O>a</O></R>\njunk')).records;
    expect(values(g)).toEqual([{ '#text': 'a' }, { error: 'XML not well-formed: text data outside of root node.' }]);
    expect(g[1]).toMatchObject({ raw: '</R>\njunk', offset: 11, end: 20, endLine: 2 });
  });

  it('rejects an over-long record, keeping its head, and goes on', () => {
    const data = bytes(`<R><O>${'x'.repeat(300)}</O><O>ok</O></R>`);
    const recs = expectChunkInvariant(xml('/R/O', { maxRecordBytes: 100 }), data, 64);
    expect(values(recs)).toEqual([{ error: 'record is longer than maxRecordBytes (100 bytes)' }, { '#text': 'ok' }]);
    expect(recs[0]).toMatchObject({ raw: `<O>${'x'.repeat(97)}`, offset: 3, end: 310 });
  });
});

describe('xml: chunking and resume', () => {
  const data = Buffer.concat([
    bytes(
      '\uFEFF<?xml version="1.0"?>\n<!-- export -->\n<Orders xmlns:x="urn:x">\n  <Header><Order>not a record</Order></Header>\n',
    ),
    bytes('  <Batch><Order id="1" x:k="v"><Sku>日本</Sku><Qty>1</Qty></Order>\n'),
    bytes('  <Order id="2"><Sku>😀</Sku><Qty>2</Qty><Qty>3</Qty></Order></Batch>\n'),
    bytes('  <Batch><Order id="3"><Sku>A</Sku></Bad></Order>\n  <Order id="4"><![CDATA[]]]]><![CDATA[>]]></Order>\n'),
    bytes('  <Order id="5"><Sku>'),
    Buffer.from([0xc3]),
    bytes('</Sku></Order>\n  <Order id="6"/></Batch>\n</Orders>\n'),
  ]);
  const f = xml('/Orders/Batch/Order');

  it('decodes the same records for every chunk size', () => {
    const recs = expectChunkInvariant(f, data);
    expect(values(recs)).toEqual([
      { '@id': '1', '@k': 'v', Sku: '日本', Qty: '1' },
      { '@id': '2', Sku: '😀', Qty: ['2', '3'] },
      { error: 'XML not well-formed: unexpected close tag.' },
      { '@id': '4', '#text': ']]>' },
      { error: 'invalid UTF-8 byte 0xC3' },
      { '@id': '6' },
    ]);
    expect(recs.map((r) => r.line)).toEqual([5, 6, 7, 8, 9, 10]);
  });

  it('resumes after every record with exactly the records that follow', () => {
    expectResumeInvariant(f, data, [Number.POSITIVE_INFINITY, 5]);
  });

  it('keeps error columns exact after a mid-line resume with the state of that record', () => {
    const doc = bytes('<R><O>1</O><O><A></B></O><O>3</O></R>');
    const all = decode(xml('/R/O'), doc).records;
    const d = xml('/R/O').streamDecoder({ file: FILE, offset: 0, line: 1 });
    d.push(doc.subarray(0, 12));
    const state = d.resumeState();
    expect(state).toEqual({ encoding: 'utf-8', ancestors: ['R'], at: 11, col: 11 });
    const rest = decode(xml('/R/O'), doc.subarray(11), Number.POSITIVE_INFINITY, {
      offset: 11,
      line: 1,
      resume: state,
    });
    expect(rest.records).toEqual(all.slice(1));
    expect(rest.records[0].error).toMatchObject({ column: 22, offset: 21 }); // just past </B>
  });

  it('refuses to resume mid-document without state', () => {
    expect(() => f.streamDecoder({ file: FILE, offset: 9, line: 2 })).toThrow(/without the resume state/);
  });
});
