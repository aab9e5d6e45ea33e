import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DecodedRecord } from '../../../runtime/contracts/spi.ts';
import { bindFormat } from '../../../runtime/formats/index.ts';
import { bindIdoc, type IdocTree, loadCatalog } from '../../../runtime/formats/idoc/index.ts';
import { parseSegmentYaml } from '../../../runtime/formats/idoc/layout.ts';
import { toFlat, toXml } from '../../../runtime/formats/idoc/write.ts';
import { decode, expectChunkInvariant, expectResumeInvariant, values } from '../formats/helpers.ts';
import { control, loistd, matmas, mbgmcr, wmmbxy } from './samples.ts';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
/** A real SAP flat IDoc and its XML twin (DataZooDE/erpl-idoc, BSL-1.1): read in place, never copied into the repo. */
const REFERENCE = resolve(ROOT, '..', 'shared', 'reference-data', 'erpl-idoc');
const FLIGHT_SEGMENTS = resolve(import.meta.dirname, 'fixtures', 'flight-segments.yaml');

const catalog = loadCatalog();
const fmt = bindIdoc({}, ROOT);
const buf = (s: string) => Buffer.from(s, 'utf8');
const trees = (recs: DecodedRecord[]) => recs.map((r) => r.value);

describe('idoc format: the real SAP reference pair', () => {
  it.skipIf(!existsSync(REFERENCE))('flight.idoc (flat, contiguous) and flight.xml decode to the same tree', () => {
    const f = bindIdoc({ segments: [FLIGHT_SEGMENTS] }, ROOT);
    const flatBytes = readFileSync(join(REFERENCE, 'flight.idoc'));
    const xmlBytes = readFileSync(join(REFERENCE, 'flight.xml'));
    const flat = decode(f, flatBytes).records;
    const xml = decode(f, xmlBytes).records;
    expect(flat).toHaveLength(1);
    expect(xml).toHaveLength(1);
    expect(flat[0].error).toBeUndefined();
    expect(xml[0].error).toBeUndefined();
    expect(flat[0].value).toEqual(xml[0].value);
    // one 524-char control record + two 1063-char data records, no separators
    expect(flat[0]).toMatchObject({ offset: 0, end: 2650 });
    expect(flatBytes.length).toBe(524 + 2 * 1063);
    const tree = flat[0].value as IdocTree;
    expect(tree.EDI_DC40).toMatchObject({ DOCNUM: '0000000000000008', IDOCTYP: 'FLIGHTBOOKING_CREATEFROMDAT01', DIRECT: '2', CREDAT: '20260701' });
    expect(tree).toMatchObject({
      E1SBO_CRE: [{ E1BPSBONEW: [{ AIRLINEID: 'LH', CONNECTID: '0400', FLIGHTDATE: '20260715', PASSNAME: 'MUELLER', PASSBIRTH: '19800101' }] }],
    });
    // the XML record spans exactly the <IDOC> element
    const x = xmlBytes.toString('latin1');
    expect(xml[0].offset).toBe(x.indexOf('<IDOC '));
    expect(xml[0].end).toBe(x.indexOf('</IDOC>') + '</IDOC>'.length);
  });

  it.skipIf(!existsSync(REFERENCE))('without its segment layouts the flat IDoc keeps SDATA (unknownSegments: keep)', () => {
    const [r] = decode(fmt, readFileSync(join(REFERENCE, 'flight.idoc'))).records;
    const sdata: string = (r.value as any).E1SBO_CRE[0].E1BPSBONEW[0].SDATA;
    expect(sdata.startsWith('LH 04002026071500000042Y')).toBe(true);
    const strict = bindIdoc({ unknownSegments: 'reject' }, ROOT);
    const [bad] = decode(strict, readFileSync(join(REFERENCE, 'flight.idoc'))).records;
    expect(bad.error).toMatchObject({ reason: expect.stringContaining('E1SBO_CRE has no layout'), offset: 524, field: 'SEGNAM' });
  });
});

describe('idoc format: flat framing and offsets', () => {
  const docs = [wmmbxy('1'), mbgmcr('2'), loistd('3'), matmas('4')];
  const flatOf = (eol: string) => docs.map((t) => toFlat(t, catalog, eol)).join('');
  const segmentsOf = (t: IdocTree) => toFlat(t, catalog, '\n').split('\n').length - 2;

  for (const [name, eol] of [
    ['contiguous', ''],
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ] as const) {
    it(`${name}: one record per IDoc, exact offsets, same trees`, () => {
      const data = buf(flatOf(eol));
      const recs = decode(fmt, data).records;
      expect(recs.map((r) => r.error)).toEqual([undefined, undefined, undefined, undefined]);
      expect(trees(recs)).toEqual(docs);
      let at = 0;
      for (const [i, r] of recs.entries()) {
        const size = (524 + eol.length) + segmentsOf(docs[i]) * (1063 + eol.length);
        expect({ i, offset: r.offset, end: r.end }).toEqual({ i, offset: at, end: at + size });
        at += size;
      }
      expect(at).toBe(data.length);
      if (eol) expect(recs.map((r) => r.line)).toEqual([1, 7, 13, 17]);
    });
  }

  it('any chunking gives the same records; resuming at any record end gives the rest', () => {
    const data = buf(flatOf('\r\n'));
    expectChunkInvariant(fmt, data, 40);
    for (const chunk of [523, 524, 525, 1062, 1063, 1064, 4096]) expect(decode(fmt, data, chunk).records).toEqual(decode(fmt, data).records);
    expectResumeInvariant(fmt, buf(flatOf('')), [Number.POSITIVE_INFINITY, 1000]);
    expectResumeInvariant(fmt, buf(flatOf('\n')), [Number.POSITIVE_INFINITY, 333]);
  });

  it('line-terminated files with trimmed padding and a missing final newline', () => {
    const text = docs
      .map((t) =>
        toFlat(t, catalog, '\n')
          .split('\n')
          .map((l) => l.trimEnd())
          .join('\n'),
      )
      .join('')
      .replace(/\n$/, '');
    const recs = decode(fmt, buf(text)).records;
    expect(recs.map((r) => r.error?.reason)).toEqual([undefined, undefined, undefined, undefined]);
    expect(trees(recs)).toEqual(docs);
    expect(recs[3].end).toBe(Buffer.byteLength(text));
  });

  it('a final newline or blank lines between IDocs are not records', () => {
    const text = `${toFlat(docs[0], catalog)}\n\n${toFlat(docs[1], catalog)}\n`;
    const recs = decode(fmt, buf(text)).records;
    expect(trees(recs)).toEqual([docs[0], docs[1]]);
  });

  it('slices SDATA by characters (UTF-8 port): multi-byte text keeps later fields in place and offsets exact', () => {
    const t = matmas('9');
    (t as any).E1MARAM[0].E1MAKTM[0].MAKTX = 'Mineralwasser Spritzig — 1,5 l ÄÖÜ €';
    const one = toFlat(t, catalog);
    const data = buf(one + one);
    const recs = decode(fmt, data).records;
    expect(trees(recs)).toEqual([t, t]);
    expect(recs[1].offset).toBe(Buffer.byteLength(one));
    expect(recs[1].end).toBe(data.length);
    expectChunkInvariant(fmt, data, 7);
  });

  it('iso-8859-1 files', () => {
    const t = loistd('10');
    const f = bindIdoc({ encoding: 'latin1' }, ROOT);
    const data = Buffer.from(toFlat(t, catalog, '\n').replace(/^(E1PLSEL .{55})0001/m, '$1Ö001'), 'latin1');
    const [r] = decode(f, data).records;
    expect((r.value as any).E1MDSTL[0].E1PLSEL[0].LGORT).toBe('Ö001');
  });
});

/** A flat data record with explicit administrative fields. */
function dataRecord(segnam: string, docnum: string, segnum: string, psgnum: string, hlevel: string, sdata = ''): string {
  return `${segnam.padEnd(30)}100${docnum.padStart(16, '0')}${segnum}${psgnum}${hlevel}${sdata.padEnd(1000)}`;
}
const ctl = (docnum: string) => toFlat({ EDI_DC40: control(docnum, 'WMMBID02', 'WMMBXY') }, catalog);

describe('idoc format: segment hierarchy', () => {
  const h = 'x'.repeat(0);
  it('from PSGNUM (parent SEGNUM) and HLEVEL', () => {
    const text =
      ctl('1') +
      dataRecord('E1MBXYH', '1', '000001', '000000', '01', `20261121${h}`) +
      dataRecord('E1MBXYI', '1', '000002', '000001', '02', '101') +
      dataRecord('E1MBXYJ', '1', '000003', '000002', '03', '4900000001') +
      dataRecord('E1MBXYI', '1', '000004', '000001', '02', '102') +
      dataRecord('E1MBXYH', '1', '000005', '000000', '01', '20261122');
    const [r] = decode(fmt, buf(text)).records;
    expect(r.error).toBeUndefined();
    expect(r.value).toEqual({
      EDI_DC40: control('1', 'WMMBID02', 'WMMBXY'),
      E1MBXYH: [
        { BLDAT: '20261121', E1MBXYI: [{ BWART: '101', E1MBXYJ: [{ MBLNR: '4900000001' }] }, { BWART: '102' }] },
        { BLDAT: '20261122' },
      ],
    });
  });

  it('from HLEVEL alone when PSGNUM is empty, and from the layout when both are empty', () => {
    const byLevel =
      ctl('2') +
      dataRecord('E1MBXYH', '2', '000001', '000000', '01') +
      dataRecord('E1MBXYI', '2', '000002', '000000', '02', '101') +
      dataRecord('E1MBXYJ', '2', '000003', '000000', '03', '4900000001') +
      dataRecord('E1MBXYI', '2', '000004', '000000', '02', '102');
    const byLayout =
      ctl('2') +
      dataRecord('E1MBXYH', '2', '      ', '      ', '  ') +
      dataRecord('E1MBXYI', '2', '      ', '      ', '  ', '101') +
      dataRecord('E1MBXYJ', '2', '      ', '      ', '  ', '4900000001') +
      dataRecord('E1MBXYI', '2', '      ', '      ', '  ', '102');
    const want = { EDI_DC40: control('2', 'WMMBID02', 'WMMBXY'), E1MBXYH: [{ E1MBXYI: [{ BWART: '101', E1MBXYJ: [{ MBLNR: '4900000001' }] }, { BWART: '102' }] }] };
    expect(decode(fmt, buf(byLevel)).records[0].value).toEqual(want);
    expect(decode(fmt, buf(byLayout)).records[0].value).toEqual(want);
  });

  it('inconsistent hierarchy rejects the whole IDoc with the offset of the bad data record; the next IDoc is fine', () => {
    const bad = [
      [dataRecord('E1MBXYI', '3', '000002', '000009', '02', '101'), 'parent segment 000009 (PSGNUM) does not precede', 'PSGNUM'],
      [dataRecord('E1MBXYI', '3', '000002', '000001', '03', '101'), "HLEVEL 03 of segment 000002 does not follow its parent's level 1", 'HLEVEL'],
      [dataRecord('E1MBXYI', '3', '000001', '000000', '02', '101'), 'SEGNUM 000001 occurs twice', 'SEGNUM'],
      [dataRecord('E1MBXYI', '8', '000002', '000001', '02', '101'), 'data record of IDoc 0000000000000008 inside IDoc 0000000000000003', 'DOCNUM'],
      [dataRecord('E1MBXYI', '3', '0000x2', '000001', '02', '101'), "SEGNUM '0000x2' is not a number", 'SEGNUM'],
    ] as const;
    for (const [rec, reason, field] of bad) {
      const first = ctl('3') + dataRecord('E1MBXYH', '3', '000001', '000000', '01');
      const text = first + rec + ctl('4') + dataRecord('E1MBXYH', '4', '000001', '000000', '01', '20261121');
      const recs = decode(fmt, buf(text)).records;
      expect(recs).toHaveLength(2);
      expect(recs[0].error).toMatchObject({ stage: 'decode', reason: expect.stringContaining(reason), offset: first.length, field, file: 'in.dat' });
      expect(recs[0]).toMatchObject({ offset: 0, end: first.length + rec.length, raw: first + rec });
      expect(recs[1].value).toMatchObject({ E1MBXYH: [{ BLDAT: '20261121' }] });
    }
  });

  it('data before the first control record, a truncated last record, and garbage in a contiguous file', () => {
    const orphan = dataRecord('E1MBXYH', '1', '000001', '000000', '01');
    const good = ctl('5') + dataRecord('E1MBXYH', '5', '000001', '000000', '01', '20261121');
    let recs = decode(fmt, buf(orphan + good)).records;
    expect(recs[0]).toMatchObject({ offset: 0, end: 1063, error: { reason: 'data record before any control record (EDI_DC40)', offset: 0 } });
    expect(recs[1]).toMatchObject({ offset: 1063, value: { E1MBXYH: [{ BLDAT: '20261121' }] } });

    recs = decode(fmt, buf(good + ctl('6') + dataRecord('E1MBXYH', '6', '000001', '000000', '01').slice(0, 700))).records;
    expect(recs).toHaveLength(2);
    expect(recs[1].error).toMatchObject({ reason: 'truncated data record: 700 of 1063 characters at the end of the input', offset: good.length + 524 });
    expect(recs[1].end).toBe(good.length + 524 + 700);

    const garbage = `${'#'.repeat(1500)}`;
    recs = decode(fmt, buf(good + garbage + good)).records;
    expect(recs).toHaveLength(2);
    expect(recs[0].error).toMatchObject({ reason: expect.stringContaining('not an IDoc data record'), offset: good.length });
    expect(recs[0].end).toBe(good.length + garbage.length);
    expect(recs[1]).toMatchObject({ offset: good.length + garbage.length, value: { E1MBXYH: [{ BLDAT: '20261121' }] } });
    expectChunkInvariant(fmt, buf(good + garbage + good), 50);
  });

  it('invalid UTF-8 and over-long lines reject their IDoc', () => {
    const good = toFlat(loistd('7'), catalog, '\n');
    const broken = Buffer.concat([buf(good.slice(0, 600)), Buffer.from([0xff]), buf(good.slice(601))]);
    const recs = decode(fmt, Buffer.concat([broken, buf(good)])).records;
    expect(recs[0].error).toMatchObject({ reason: 'invalid UTF-8 byte 0xFF', offset: 600, line: 2 });
    expect(recs[1].value).toEqual(loistd('7'));
    const long = `${good.split('\n')[0]}\n${dataRecord('E1MDSTL', '7', '000001', '000000', '01')}EXTRA\n`;
    expect(decode(fmt, buf(long)).records[0].error).toMatchObject({ reason: 'data record is 1068 characters, expected 1063', field: 'SDATA' });
  });

  it('an IDoc larger than maxIdocBytes is rejected without holding it', () => {
    const f = bindIdoc({ maxIdocBytes: 4000 }, ROOT);
    const big = toFlat(matmas('8'), catalog);
    const small = toFlat(loistd('9'), catalog);
    const recs = decode(f, buf(big + small), 1000).records;
    expect(recs[0].error).toMatchObject({ reason: 'IDoc is larger than maxIdocBytes (4000 bytes)', offset: 0 });
    expect(recs[0].end).toBe(big.length);
    expect(recs[1].value).toEqual(loistd('9'));
  });
});

describe('idoc format: IDoc-XML', () => {
  it('the XML twin of each shipped IDoc type decodes to the same tree as the flat file', () => {
    for (const t of [wmmbxy(), mbgmcr(), loistd(), matmas()]) {
      const [flat] = decode(fmt, buf(toFlat(t, catalog))).records;
      const [xml] = decode(fmt, buf(toXml(t, catalog))).records;
      expect(xml.error).toBeUndefined();
      expect(xml.value).toEqual(flat.value);
      expect(xml.value).toEqual(t);
    }
  });

  it('many IDocs per document, comments, CDATA, entities, namespaced segment names; exact offsets; chunking; resume', () => {
    const a = wmmbxy('1');
    (a as any).E1MBXYH[0].BKTXT = 'A & B <x>';
    const b = mbgmcr('2');
    (b as any).E1MBGMCR[0]['/SPE/E1BP2017_GM_REF_EWM'] = [{ SDATA: 'EWM1' }];
    const xa = toXml(a, catalog).replace(/<\/WMMBID02>\n$/, '');
    const xb = toXml(b, catalog)
      .replace(/^<\?xml[^>]*>\n<MBGMCR03>\n/, '')
      .replace('<SDATA>EWM1</SDATA>', '<![CDATA[]]><SDATA><![CDATA[EWM1]]></SDATA><!-- <IDOC> in a comment -->');
    const text = `${xa}<!-- next -->\n${xb}`;
    expect(xb).toContain('<_-SPE_-E1BP2017_GM_REF_EWM SEGMENT="1">');
    const data = buf(text);
    const recs = decode(fmt, data).records;
    expect(recs.map((r) => r.error)).toEqual([undefined, undefined]);
    expect(trees(recs)).toEqual([a, b]);
    expect(recs[0].offset).toBe(text.indexOf('<IDOC '));
    expect(recs[1].offset).toBe(text.lastIndexOf('<IDOC '));
    expect(recs[1].end).toBe(text.lastIndexOf('</IDOC>') + 7);
    expectChunkInvariant(fmt, data, 30);
    expectResumeInvariant(fmt, data, [Number.POSITIVE_INFINITY, 17]);
  });

  it('a malformed IDOC element is rejected with its offset; the next one decodes', () => {
    const good = toXml([loistd('1'), loistd('2')], catalog);
    const text = good.replace('<LABST>120.000</LABST>', '<LABST>120.000</LABSTX>');
    const recs = decode(fmt, buf(text)).records;
    expect(recs).toHaveLength(2);
    expect(recs[0].error?.reason).toMatch(/^malformed XML/);
    expect(recs[0].error!.offset).toBeGreaterThan(text.indexOf('<IDOC'));
    expect(recs[0].error!.offset).toBeLessThan(text.indexOf('</IDOC>'));
    expect(recs[1].value).toEqual(loistd('2'));
    const noControl = '<LOISTD01><IDOC BEGIN="1"><E1MDSTL SEGMENT="1"><MATNR>1</MATNR></E1MDSTL></IDOC></LOISTD01>';
    expect(decode(fmt, buf(noControl)).records[0].error).toMatchObject({ reason: '<IDOC> has no EDI_DC40 control record', field: 'EDI_DC40' });
    const cut = good.slice(0, good.indexOf('</IDOC>'));
    expect(values(decode(fmt, buf(cut)).records)).toEqual([{ error: 'truncated: the <IDOC> element is not closed at the end of the input' }]);
    const stray = '<LOISTD01><FOO><BAR/></FOO></LOISTD01>';
    expect(values(decode(fmt, buf(stray)).records)).toEqual([{ error: 'unexpected element <FOO> where <IDOC> was expected' }]);
  });

  it('honours the encoding of the XML declaration', () => {
    const t = loistd('1');
    (t as any).E1MDSTL[0].WERKS = 'MÜN1';
    const text = toXml(t, catalog).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"');
    const [r] = decode(fmt, Buffer.from(text, 'latin1')).records;
    expect(r.value).toEqual(t);
  });

  it('decodeMessage: one message holding an IDoc (MQ/Kafka payloads)', () => {
    const recs = fmt.decodeMessage(toXml(mbgmcr(), catalog), 'msg-1');
    expect(recs).toHaveLength(1);
    expect(recs[0].value).toEqual(mbgmcr());
    expect(fmt.decodeMessage(buf(toFlat(loistd(), catalog)), 'msg-2')[0].value).toEqual(loistd());
  });
});

describe('idoc format: segment layouts in YAML', () => {
  it('ships WMMBID02, MBGMCR03, LOISTD01 and MATMAS05', () => {
    for (const s of ['E1MBXYH', 'E1MBXYI', 'E1MBXYJ', 'E1MBGMCR', 'E1BP2017_GM_HEAD_01', 'E1BP2017_GM_CODE', 'E1BP2017_GM_ITEM_CREATE', 'E1MDSTL', 'E1PLSEL', 'E1MARAM', 'E1MARMM', 'E1MEANM'])
      expect(catalog.get(s), s).toBeDefined();
    expect(catalog.get('E1BP2017_GM_HEAD_01')!.byName.get('HEADER_TXT')).toMatchObject({ offset: 70, length: 25 });
  });

  it('user files add Z-segments and replace shipped definitions; numbers with a trailing minus', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-idoc-'));
    writeFileSync(
      join(dir, 'z.yaml'),
      'segments:\n  Z1STORE:\n    parent: E1MBXYH\n    fields:\n      - STORE 4\n      - { name: DELTA, length: 10, type: num }\n  E1MBXYJ:\n    fields: [MBLNR 10]\n',
    );
    const f = bindIdoc({ segments: ['z.yaml'] }, dir);
    const text =
      ctl('1') +
      dataRecord('E1MBXYH', '1', '000001', '000000', '01') +
      dataRecord('Z1STORE', '1', '000002', '000001', '02', '0042    12.5-') +
      dataRecord('E1MBXYI', '1', '000003', '000001', '02', '101') +
      dataRecord('E1MBXYJ', '1', '000004', '000003', '03', '49000000012026');
    const [r] = decode(f, buf(text)).records;
    expect(r.value).toMatchObject({ E1MBXYH: [{ Z1STORE: [{ STORE: '0042', DELTA: '-12.5' }], E1MBXYI: [{ E1MBXYJ: [{ MBLNR: '4900000001' }] }] }] });
    expect((r.value as any).E1MBXYH[0].E1MBXYI[0].E1MBXYJ[0]).toEqual({ MBLNR: '4900000001' });
  });

  it('is in the format registry; option mistakes are ConfigErrors', () => {
    const f = bindFormat('idoc', { format: 'idoc', syntax: 'flat', segments: [FLIGHT_SEGMENTS] }, ROOT);
    expect(f.name).toBe('idoc');
    expect(decode(f, buf(toFlat(loistd(), catalog))).records[0].value).toEqual(loistd());
    expect(() => bindFormat('idoc', { syntax: 'edifact' }, ROOT)).toThrow("idoc option 'syntax' must be one of");
    expect(() => bindFormat('idoc', { segments: ['missing.yaml'] }, ROOT)).toThrow('idoc: segment layout file');
  });

  it('reports layout mistakes with the file and segment', () => {
    expect(() => parseSegmentYaml('segments:\n  E1X:\n    fields: [A 10, B x]\n', 'x.yaml')).toThrow("x.yaml: segment E1X field 2: expected 'NAME LENGTH [TYPE]', got 'B x'");
    expect(() => parseSegmentYaml('segments:\n  E1X:\n    fields: [A 999, B 2]\n', 'x.yaml')).toThrow('x.yaml: segment E1X field 2 (B): ends at 1001, past the 1000 characters of SDATA');
    expect(() => parseSegmentYaml('segments:\n  E1X:\n    fields: [A 1 money]\n', 'x.yaml')).toThrow("unknown type 'money'");
    expect(() => parseSegmentYaml('segments:\n  E1X:\n    field: []\n', 'x.yaml')).toThrow("x.yaml: segment E1X: unknown key 'field'");
    expect(() => bindIdoc({ segments: ['nope.yaml'] }, ROOT)).toThrow('not found');
  });
});
