/**
 * Acceptance against JRecord's public DTAR020 sample (../shared/reference-data/jrecord: the copybook, a 540-byte
 * EBCDIC file and the expected values as CSV), read in place and never copied into the project. The same layout is
 * also checked on synthetic records built here (mappings/copybooks/store-sales.cpy), so the decoder is tested
 * whether or not the shared files are present.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindFormat } from '../../../runtime/formats/index.ts';
import { CopybookFormat } from '../../../runtime/formats/copybook/index.ts';
import { decodeAll, packed, pic } from './fixtures.ts';

const REF = resolve(import.meta.dirname, '../../../../shared/reference-data/jrecord');
const MAPPINGS = resolve(import.meta.dirname, '../../../mappings');
const present = existsSync(join(REF, 'DTAR020.cbl')) && existsSync(join(REF, 'DTAR020_small.bin'));

function expectedRows(): string[][] {
  const lines = readFileSync(join(REF, 'DTAR020_Small_uc.csv'), 'latin1').trim().split(/\r?\n/);
  return lines.slice(1).map((l) => l.split('\t'));
}

describe.skipIf(!present)('DTAR020 reference sample (shared/reference-data/jrecord)', () => {
  it('decodes all 20 records to the expected values', () => {
    const f = new CopybookFormat({ copybook: join(REF, 'DTAR020.cbl'), codePage: 'cp037', flatten: true, fieldNames: 'underscore' }, '/');
    expect(f.layout.size).toBe(27);
    const data = readFileSync(join(REF, 'DTAR020_small.bin'));
    expect(data.length).toBe(540);
    const header = readFileSync(join(REF, 'DTAR020_Small_uc.csv'), 'latin1').split(/\r?\n/)[0].split('\t');
    const rows = expectedRows();
    expect(rows).toHaveLength(20);
    for (const chunk of [Number.POSITIVE_INFINITY, 1, 7, 26, 27, 28, 100]) {
      const recs = decodeAll(f, data, chunk);
      expect(recs).toHaveLength(20);
      recs.forEach((r, i) => {
        expect(r.error).toBeUndefined();
        expect([r.offset, r.end]).toEqual([i * 27, (i + 1) * 27]);
        const got = header.map((h) => (r.value as Record<string, string>)[h]);
        expect({ record: i + 1, got }).toEqual({ record: i + 1, got: rows[i] });
      });
    }
  });

  it('our store-sales copybook reads the same bytes the same way', () => {
    const f = bindFormat('copybook', { copybook: 'copybooks/store-sales.cpy', flatten: true, dropPrefix: 'SS-' }, MAPPINGS);
    const recs = decodeAll(f, readFileSync(join(REF, 'DTAR020_small.bin')));
    expect(recs.map((r) => Object.values(r.value as object))).toEqual(expectedRows());
  });
});

describe('store-sales layout on synthetic records (same layout as DTAR020)', () => {
  const f = bindFormat('copybook', { copybook: 'copybooks/store-sales.cpy', flatten: true, dropPrefix: 'SS-' }, MAPPINGS);
  const rec = (key: string, store: number, date: number, dept: number, qty: number, cents: number) =>
    Buffer.concat([pic(key, 8), packed(store, 3), packed(date, 7), packed(dept, 3), packed(qty, 9), packed(cents, 11)]);

  it('decodes 27-byte records with exact decimals', () => {
    const data = Buffer.concat([rec('69684558', 20, 40118, 280, 1, 1900), rec('69684558', 20, 40118, 280, -1, -1900), rec('63674861', 59, 1240131, 957, 10, 270)]);
    expect(data.length).toBe(81);
    expect(decodeAll(f, data, 5).map((r) => r.value)).toEqual([
      { keycode_no: '69684558', store_no: '20', sale_date: '40118', dept_no: '280', qty_sold: '1', sale_price: '19.00' },
      { keycode_no: '69684558', store_no: '20', sale_date: '40118', dept_no: '280', qty_sold: '-1', sale_price: '-19.00' },
      { keycode_no: '63674861', store_no: '59', sale_date: '1240131', dept_no: '957', qty_sold: '10', sale_price: '2.70' },
    ]);
  });

  it('a message of the wrong length and a bad nibble are rejects with the message id and offset', () => {
    const good = rec('1', 1, 1, 1, 1, 1);
    const [short] = f.decodeMessage(good.subarray(0, 26), 'MQ:414d5120');
    expect(short.error).toMatchObject({ stage: 'decode', file: 'MQ:414d5120', offset: 21, field: 'STORE-SALE-REC.SS-SALE-PRICE' });
    expect(short.error!.reason).toMatch(/length mismatch: message MQ:414d5120 is 26 bytes, the layout needs 27/);
    const bad = Buffer.from(good);
    bad[19] = 0x0e; // a digit nibble E inside SS-QTY-SOLD (bytes 16–20)
    const [r] = f.decodeMessage(bad, 'MQ:1');
    expect(r.error).toMatchObject({ offset: 19, field: 'STORE-SALE-REC.SS-QTY-SOLD' });
  });
});
