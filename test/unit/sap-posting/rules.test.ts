/** Event → posting through the config table: GM codes, movement types, locations, padding, keys, dates. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Posting } from '../../../connectors/sap-posting/posting.ts';
import { PostingRules } from '../../../connectors/sap-posting/rules.ts';
import { padMaterial, postingKey, sapDate } from '../../../connectors/sap/values.ts';
import { event } from './helpers.ts';

const post = (r: ReturnType<PostingRules['prepare']>): Posting => {
  if (r.kind !== 'post') throw new Error(`expected a posting, got ${JSON.stringify(r)}`);
  return r.posting;
};

describe('posting rules', () => {
  const rules = new PostingRules({ units: { EA: 'ST' }, locations: { 'STORE-42': { plant: '1042', storageLocation: '0001' } } }, '.');

  it('default table: sales, receipts, returns, adjustments; skip TRANSFER_IN/COUNT/SNAPSHOT', () => {
    const cases = [
      [{ eventType: 'SALE', quantity: '-2.000' }, '03', '251'],
      [{ eventType: 'RECEIPT', quantity: '5.000' }, '05', '501'],
      [{ eventType: 'RETURN', quantity: '1.000' }, '05', '252'],
      [{ eventType: 'ADJUSTMENT', quantity: '3.000' }, '05', '501'],
      [{ eventType: 'ADJUSTMENT', quantity: '-3.000' }, '03', '551'],
    ] as const;
    for (const [over, gm, bwart] of cases) {
      const p = post(rules.prepare(event(1, over)));
      expect([p.gmCode, p.items[0].movementType, p.items[0].quantity]).toEqual([gm, bwart, over.quantity.replace('-', '')]);
    }
    for (const t of ['TRANSFER_IN', 'COUNT', 'SNAPSHOT'] as const) expect(rules.prepare(event(1, { eventType: t, quantity: '1.000', references: { counterpartLocationId: '1010/0002' } })).kind).toBe('skip');
    expect(rules.prepare(event(1, { eventType: 'SALE', quantity: '2.000' }))).toEqual({ kind: 'reject', reason: 'no posting rule for a SALE with quantity 2.000' });
  });

  it('material numbers padded as SAP expects, units mapped, key in HEADER_TXT, document id in REF_DOC_NO', () => {
    const e = event(7, { sku: '4711', locationId: 'STORE-42', references: { documentId: 'S042-20261121-T1001-LONGER' } });
    const p = post(rules.prepare(e));
    expect(p.items[0]).toMatchObject({ material: '000000000000004711', plant: '1042', storageLocation: '0001', unit: 'ST' });
    expect(p.key).toBe(postingKey(e.eventId));
    expect(p.key).toMatch(/^SB[0-9A-Z]{23}$/);
    expect(p.header).toEqual({ postingDate: '20261121', documentDate: '20261121', headerText: p.key, referenceDocument: 'S042-20261121-T1' });
    expect(post(rules.prepare(event(7, { sku: 'tg-12' }))).items[0].material).toBe('TG-12');
    expect(padMaterial('000123')).toBe('000000000000000123');
    expect(() => padMaterial('A-VERY-LONG-MATERIAL-NUMBER')).toThrow('longer than 18 characters');
    expect(padMaterial('A-VERY-LONG-MATERIAL-NUMBER', 40)).toBe('A-VERY-LONG-MATERIAL-NUMBER');
  });

  it('keyField referenceDocument: a 16-character key in REF_DOC_NO', () => {
    const r = new PostingRules({ keyField: 'referenceDocument' }, '.');
    const p = post(r.prepare(event(3)));
    expect(p.key).toMatch(/^SB[0-9A-Z]{14}$/);
    expect(p.header.referenceDocument).toBe(p.key);
    expect(p.header.headerText).toBe('T-3');
    // the same event id always gives the same key; another id another key
    expect(postingKey(event(3).eventId, 16)).toBe(p.key);
    expect(postingKey(event(4).eventId, 16)).not.toBe(p.key);
  });

  it('transfers: one posting from the TRANSFER_OUT leg; 311 within a plant, 301 across plants', () => {
    const out = (to: string) => event(9, { eventType: 'TRANSFER_OUT', quantity: '-4.000', references: { counterpartLocationId: to } });
    const within = post(rules.prepare(out('1010/0005'))).items[0];
    expect(within).toMatchObject({ movementType: '311', plant: '1010', storageLocation: '0001', movePlant: '1010', moveStorageLocation: '0005', quantity: '4.000' });
    const across = post(rules.prepare(out('STORE-42'))).items[0];
    expect(across).toMatchObject({ movementType: '301', movePlant: '1042', moveStorageLocation: '0001' });
    expect(rules.prepare(event(9, { eventType: 'TRANSFER_OUT', quantity: '-1.000' }))).toEqual({ kind: 'reject', reason: 'a transfer needs references.counterpartLocationId' });
  });

  it('custom rules by reason code, location files, posting dates in the business time zone, batches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-rules-'));
    writeFileSync(join(dir, 'loc.csv'), 'locationId,plant,storageLocation\nDE-STORE-0021,1021,0001\n');
    writeFileSync(join(dir, 'mat.csv'), 'sku,material\nSKU000123,TG12\n');
    const r = new PostingRules(
      {
        rules: [
          { when: { eventType: 'ADJUSTMENT', reasonCode: ['DAMAGED', 'EXPIRED'] }, gmCode: '03', movementType: '551', moveReason: '0001' },
          { when: { eventType: 'ADJUSTMENT' }, gmCode: '03', movementType: '201', costCenter: '4200' },
        ],
        locationsFile: 'loc.csv',
        materialsFile: 'mat.csv',
        timeZone: 'Europe/Berlin',
      },
      dir,
    );
    const e = event(1, { eventType: 'ADJUSTMENT', sku: 'SKU000123', locationId: 'DE-STORE-0021', occurredAt: '2026-11-21T23:30:00.000Z', references: { reasonCode: 'DAMAGED' }, attributes: { batch: 'b-77' } });
    const p = post(r.prepare(e));
    expect(p.items[0]).toMatchObject({ material: 'TG12', plant: '1021', movementType: '551', moveReason: '0001', batch: 'B-77' });
    expect(p.header.postingDate).toBe('20261122');
    const q = post(r.prepare({ ...e, references: {} }));
    expect(q.items[0]).toMatchObject({ movementType: '201', costCenter: '0000004200' });
    expect(r.prepare({ ...e, locationId: 'NOWHERE' })).toEqual({ kind: 'reject', reason: 'location NOWHERE has no plant/storage location (locations, locationsFile)' });
    expect(r.prepare({ ...e, quantity: '0.000' })).toEqual({ kind: 'reject', reason: 'quantity 0 cannot be posted' });
    expect(sapDate('2026-03-29T00:30:00.000Z', 'America/New_York')).toBe('20260328');
    expect(() => new PostingRules({ rules: [{ when: { eventType: 'SALE' }, gmCode: '09', movementType: '251' }] }, '.')).toThrow('gmCode 09');
  });
});
