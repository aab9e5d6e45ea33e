/** IDoc trees built from the documented layouts (our own fixtures; no SAP sample file is copied). */
import type { IdocTree } from '../../../runtime/formats/idoc/index.ts';

export function control(docnum: string, idoctyp: string, mestyp: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TABNAM: 'EDI_DC40',
    MANDT: '100',
    DOCNUM: docnum.padStart(16, '0'),
    DOCREL: '758',
    STATUS: '30',
    DIRECT: '1',
    OUTMOD: '2',
    IDOCTYP: idoctyp,
    MESTYP: mestyp,
    SNDPOR: 'SAPS4H',
    SNDPRT: 'LS',
    SNDPRN: 'S4HCLNT100',
    RCVPOR: 'STOCKBRDG',
    RCVPRT: 'LS',
    RCVPRN: 'STOCKBRDG',
    CREDAT: '20261121',
    CRETIM: '101500',
    ...extra,
  };
}

/** WMMBXY: a header with a GR (101), a goods issue to a cost center (201) and a transfer (311) item. */
export function wmmbxy(docnum = '4711'): IdocTree {
  return {
    EDI_DC40: control(docnum, 'WMMBID02', 'WMMBXY'),
    E1MBXYH: [
      {
        BLDAT: '20261121',
        BUDAT: '20261121',
        XBLNR: 'DN-88001',
        BKTXT: 'Store 0042 receipts',
        TCODE: 'MB01',
        USNAM: 'WMSUSER',
        E1MBXYI: [
          { BWART: '101', MATNR: '000000000000104711', WERKS: '1010', LGORT: '0001', SHKZG: 'S', ERFMG: '24.000', ERFME: 'ST', EBELN: '4500000017', EBELP: '00010', KZBEW: 'B' },
          { BWART: '201', MATNR: '000000000000104712', WERKS: '1010', LGORT: '0001', SHKZG: 'H', ERFMG: '2.500', ERFME: 'KG', KOSTL: '0000004200' },
          {
            BWART: '311',
            MATNR: 'TG-12',
            WERKS: '1010',
            LGORT: '0001',
            CHARG: 'B2026-11',
            SHKZG: 'H',
            ERFMG: '10.000',
            ERFME: 'ST',
            UMWRK: '1010',
            UMLGO: '0002',
            E1MBXYJ: [{ MBLNR: '4900001234', MJAHR: '2026', MBLPO: '0003', MENGE: '10.000', MEINS: 'ST' }],
          },
        ],
      },
    ],
  };
}

/** MBGMCR03: one goods movement with two items (transfer 311 and scrapping 551). */
export function mbgmcr(docnum = '5001'): IdocTree {
  return {
    EDI_DC40: control(docnum, 'MBGMCR03', 'MBGMCR', { DIRECT: '2' }),
    E1MBGMCR: [
      {
        E1BP2017_GM_HEAD_01: [{ PSTNG_DATE: '20261120', DOC_DATE: '20261120', REF_DOC_NO: 'T-77', HEADER_TXT: 'Rebalance' }],
        E1BP2017_GM_CODE: [{ GM_CODE: '04' }],
        E1BP2017_GM_ITEM_CREATE: [
          { MATERIAL: '000000000000104711', PLANT: '1010', STGE_LOC: '0001', MOVE_TYPE: '311', ENTRY_QNT: '6.000', ENTRY_UOM: 'ST', MOVE_STLOC: '0005' },
          { MATERIAL: '000000000000104712', PLANT: '1010', STGE_LOC: '0001', MOVE_TYPE: '551', ENTRY_QNT: '1.250', ENTRY_UOM: 'KG', MOVE_REAS: '0001' },
        ],
      },
    ],
  };
}

/** LOISTD01: stock of one material in one plant. */
export function loistd(docnum = '6001', matnr = '000000000000104711', werks = '1010', labst = '120.000'): IdocTree {
  return {
    EDI_DC40: control(docnum, 'LOISTD01', 'LOISTD'),
    E1MDSTL: [
      {
        MATNR: matnr,
        WERKS: werks,
        LABST: labst,
        INSME: '4.000',
        SPEME: '1.000',
        E1PLSEL: [{ LGORT: '0001' }],
        E1MDPSL: [{ DAT00: '20261125', DELKZ: 'BE', DELNR: '4500000017', DELPS: '000010', MNG01: '48.000' }],
      },
    ],
  };
}

/** MATMAS05: one material with description, plant + storage location, and a case unit with its own GTIN. */
export function matmas(docnum = '7001', matnr = '000000000000104711', gtin = '4006381333931'): IdocTree {
  return {
    EDI_DC40: control(docnum, 'MATMAS05', 'MATMAS'),
    E1MARAM: [
      {
        MSGFN: '005',
        MATNR: matnr,
        MTART: 'HAWA',
        MBRSH: 'A',
        MATKL: 'GROCERY',
        MEINS: 'ST',
        EAN11: gtin,
        NUMTP: 'HE',
        E1MAKTM: [{ MSGFN: '005', SPRAS: 'E', MAKTX: 'Sparkling water 1.5 l', SPRAS_ISO: 'EN' }],
        E1MARCM: [{ MSGFN: '005', WERKS: '1010', E1MARDM: [{ MSGFN: '005', LGORT: '0001' }] }],
        E1MARMM: [
          { MSGFN: '005', MEINH: 'ST', UMREZ: '000001', UMREN: '000001', EAN11: gtin, NUMTP: 'HE' },
          { MSGFN: '005', MEINH: 'KAR', UMREZ: '000006', UMREN: '000001', EAN11: '4006381333948', NUMTP: 'HE', E1MEANM: [{ MSGFN: '005', MEINH: 'KAR', LFNUM: '00001', EAN11: '4006381333948', HPEAN: 'X' }] },
        ],
      },
    ],
  };
}
