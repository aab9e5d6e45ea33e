/**
 * The SAP sample IDocs under mappings/samples/sap/, built from the documented layouts (no SAP file is copied).
 * Regenerate them, and the material reference derived from the MATMAS sample, with:
 *   ./node_modules/.bin/node test/unit/sap-mappings/fixtures.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { applyMatmas, MATERIAL_COLUMNS, toCsv } from '../../../connectors/sap/matmas-reference.ts';
import { type IdocTree, loadCatalog } from '../../../runtime/formats/idoc/index.ts';
import { toFlat, toXml } from '../../../runtime/formats/idoc/write.ts';
import { control } from '../idoc/samples.ts';

export const MAPPINGS = resolve(import.meta.dirname, '..', '..', '..', 'mappings');
export const SAMPLES = join(MAPPINGS, 'samples', 'sap');

const item = (bwart: string, shkzg: string, matnr: string, qty: string, unit: string, extra: Record<string, unknown> = {}) => ({
  BWART: bwart,
  MATNR: matnr,
  WERKS: '1010',
  LGORT: '0001',
  SHKZG: shkzg,
  ERFMG: qty,
  ERFME: unit,
  ...extra,
});

const M1 = '000000000000104711'; // sparkling water, ST
const M2 = '000000000000104712'; // apples, KG
const M3 = 'TG-12'; // a non-numeric material number

/** WMMBXY: every supported movement type on one header, then a second IDoc with two transfers. */
export function wmmbxyDocs(): IdocTree[] {
  return [
    {
      EDI_DC40: control('4711', 'WMMBID02', 'WMMBXY', { CREDAT: '20261121', CRETIM: '101500' }),
      E1MBXYH: [
        {
          BLDAT: '20261121',
          BUDAT: '20261121',
          XBLNR: 'DN-88001',
          BKTXT: 'Store 0042 day end',
          TCODE: 'MB1C',
          USNAM: 'WMSUSER',
          E1MBXYI: [
            item('101', 'S', M1, '48.000', 'ST', { EBELN: '4500000017', EBELP: '00010', KZBEW: 'B', E1MBXYJ: [{ MBLNR: '4900000101', MJAHR: '2026', MBLPO: '0001' }] }),
            item('102', 'H', M1, '6.000', 'ST', { EBELN: '4500000017', EBELP: '00010', KZBEW: 'B' }),
            item('122', 'H', M1, '2.000', 'ST', { EBELN: '4500000017', EBELP: '00010' }),
            item('201', 'H', M2, '1.250', 'KG', { KOSTL: '0000004200' }),
            item('251', 'H', M1, '12.000', 'ST'),
            item('261', 'H', M2, '3.500', 'KG', { AUFNR: '000001000123' }),
            item('551', 'H', M2, '0.750', 'KG', { GRUND: '0001' }),
            item('601', 'H', M1, '24.000', 'ST', { KUNNR: '0000100042' }),
            item('653', 'S', M1, '1.000', 'ST', { KUNNR: '0000100042' }),
            item('701', 'S', M3, '3.000', 'ST'),
            item('702', 'H', M3, '5.000', 'ST'),
          ],
        },
      ],
    },
    {
      EDI_DC40: control('4712', 'WMMBID02', 'WMMBXY', { CREDAT: '20261121', CRETIM: '143000' }),
      E1MBXYH: [
        {
          BLDAT: '20261121',
          BUDAT: '20261121',
          XBLNR: 'TR-5521',
          E1MBXYI: [
            item('301', 'H', M1, '60.000', 'ST', { UMWRK: '1020', UMLGO: '0001' }),
            item('311', 'H', M2, '8.000', 'KG', { CHARG: 'B2026-47', UMWRK: '1010', UMLGO: '0005', UMCHA: 'B2026-47' }),
          ],
        },
      ],
    },
  ];
}

/** MBGMCR03 (IDoc-XML): one transfer posting and a scrapping on one material document. */
export function mbgmcrDocs(): IdocTree[] {
  return [
    {
      EDI_DC40: control('5001', 'MBGMCR03', 'MBGMCR', { DIRECT: '2', CREDAT: '20261120', CRETIM: '170000' }),
      E1MBGMCR: [
        {
          E1BP2017_GM_HEAD_01: [{ PSTNG_DATE: '20261120', DOC_DATE: '20261120', REF_DOC_NO: 'REBAL-77', HEADER_TXT: 'Weekly rebalance' }],
          E1BP2017_GM_CODE: [{ GM_CODE: '04' }],
          E1BP2017_GM_ITEM_CREATE: [
            { MATERIAL: M1, PLANT: '1010', STGE_LOC: '0001', MOVE_TYPE: '311', ENTRY_QNT: '6.000', ENTRY_UOM: 'ST', MOVE_PLANT: '1010', MOVE_STLOC: '0005' },
            { MATERIAL: M2, PLANT: '1010', STGE_LOC: '0001', MOVE_TYPE: '551', ENTRY_QNT: '1.500', ENTRY_UOM: 'KG', MOVE_REAS: '0002' },
          ],
        },
      ],
    },
  ];
}

/** LOISTD01: stock of three materials in plant 1010. */
export function loistdDocs(): IdocTree[] {
  const doc = (n: string, matnr: string, labst: string, insme?: string, speme?: string): IdocTree => {
    const s: Record<string, unknown> = { MATNR: matnr, WERKS: '1010', LABST: labst };
    if (insme) s.INSME = insme;
    if (speme) s.SPEME = speme;
    s.E1PLSEL = [{ LGORT: '0001' }];
    return { EDI_DC40: control(n, 'LOISTD01', 'LOISTD', { CREDAT: '20261121', CRETIM: '060000' }), E1MDSTL: [s] } as IdocTree;
  };
  return [doc('6001', M1, '1240.000', '24.000', '6.000'), doc('6002', M2, '318.250'), doc('6003', M3, '0.000')];
}

/** MATMAS05: the three materials with base unit, GTINs and descriptions. */
export function matmasDocs(): IdocTree[] {
  const mat = (n: string, matnr: string, meins: string, ean: string, text: string, units: Array<Record<string, string>>): IdocTree =>
    ({
      EDI_DC40: control(n, 'MATMAS05', 'MATMAS', { CREDAT: '20261101', CRETIM: '020000' }),
      E1MARAM: [
        {
          MSGFN: '005',
          MATNR: matnr,
          MTART: 'HAWA',
          MBRSH: 'A',
          MATKL: 'GROCERY',
          MEINS: meins,
          ...(ean ? { EAN11: ean, NUMTP: 'HE' } : {}),
          E1MAKTM: [
            { MSGFN: '005', SPRAS: 'D', MAKTX: text.split('|')[1], SPRAS_ISO: 'DE' },
            { MSGFN: '005', SPRAS: 'E', MAKTX: text.split('|')[0], SPRAS_ISO: 'EN' },
          ],
          E1MARCM: [{ MSGFN: '005', WERKS: '1010', E1MARDM: [{ MSGFN: '005', LGORT: '0001' }] }],
          E1MARMM: units.map((u) => ({ MSGFN: '005', ...u })),
        },
      ],
    }) as unknown as IdocTree;
  return [
    mat('7001', M1, 'ST', '4006381333931', 'Sparkling water 1.5 l|Mineralwasser 1,5 l', [
      { MEINH: 'ST', UMREZ: '000001', UMREN: '000001', EAN11: '4006381333931', NUMTP: 'HE' },
      { MEINH: 'KAR', UMREZ: '000006', UMREN: '000001', EAN11: '4006381333948', NUMTP: 'HE' },
    ]),
    mat('7002', M2, 'KG', '', 'Apples, loose|Äpfel, lose', [{ MEINH: 'KG', UMREZ: '000001', UMREN: '000001' }]),
    mat('7003', M3, 'ST', '4012345000016', 'Tea glass 12 cl|Teeglas 12 cl', [{ MEINH: 'ST', UMREZ: '000001', UMREN: '000001', EAN11: '4012345000016' }]),
  ];
}

if (import.meta.main) {
  const cat = loadCatalog();
  mkdirSync(SAMPLES, { recursive: true });
  writeFileSync(join(SAMPLES, 'wmmbxy-20261121.idoc'), wmmbxyDocs().map((t) => toFlat(t, cat, '\r\n')).join(''));
  writeFileSync(join(SAMPLES, 'mbgmcr-20261120.xml'), toXml(mbgmcrDocs(), cat));
  writeFileSync(join(SAMPLES, 'loistd-20261121.idoc'), loistdDocs().map((t) => toFlat(t, cat)).join(''));
  writeFileSync(join(SAMPLES, 'matmas-20261101.xml'), toXml(matmasDocs(), cat));
  const { materials } = applyMatmas(matmasDocs());
  writeFileSync(join(MAPPINGS, 'reference', 'sap-materials.csv'), toCsv(MATERIAL_COLUMNS, materials.values()));
  process.stdout.write(`wrote ${SAMPLES} and mappings/reference/sap-materials.csv\n`);
}
