/**
 * Code pages for copybook records: text decoding tables and the byte conventions of zoned decimals.
 *
 * EBCDIC (037, 500, 1047, 1140): digits F0–F9; the sign of a zoned number is the zone nibble of its sign byte,
 * C/A/E/F = +, D/B = − (C0–C9 read as `{A–I` and D0–D9 as `}J–R` through cp037). ASCII/latin1 (files made by PC
 * COBOL): digits 30–39; sign byte `{A–I` = +0..9, `}J–R` = −0..9, and also `p–y` = −0..9 (Micro Focus).
 * Code pages apply to DISPLAY items only, never to packed or binary bytes.
 */
import { ConfigError } from '../../contracts/spi.ts';
import { CP037, CP1047, CP1140, CP500 } from './codepages.ts';

export interface CharSet {
  readonly name: string;
  /** 256 characters: character i is the Unicode character of byte i. */
  readonly table: string;
  readonly chars: readonly string[];
  readonly ebcdic: boolean;
  readonly space: number;
  readonly plus: number;
  readonly minus: number;
  /** Digit value of a byte in a non-sign position of a zoned number, or -1. */
  readonly digit: Int8Array;
  /** Digit value of a byte in the sign position: 0..9 positive, 10..19 negative (value - 10), or -1. */
  readonly signDigit: Int8Array;
}

function build(name: string, table: string, ebcdic: boolean): CharSet {
  const digit = new Int8Array(256).fill(-1);
  const signDigit = new Int8Array(256).fill(-1);
  if (ebcdic) {
    for (let d = 0; d <= 9; d++) {
      digit[0xf0 + d] = d;
      for (const z of [0xa, 0xc, 0xe, 0xf]) signDigit[(z << 4) | d] = d;
      for (const z of [0xb, 0xd]) signDigit[(z << 4) | d] = 10 + d;
    }
  } else {
    for (let d = 0; d <= 9; d++) {
      digit[0x30 + d] = d;
      signDigit[0x30 + d] = d;
      signDigit[0x70 + d] = 10 + d; // p..y
    }
    signDigit[0x7b] = 0; // {
    signDigit[0x7d] = 10; // }
    for (let d = 1; d <= 9; d++) {
      signDigit[0x40 + d] = d; // A..I
      signDigit[0x49 + d] = 10 + d; // J..R
    }
  }
  const chars = [...table];
  return {
    name,
    table,
    chars,
    ebcdic,
    space: table.indexOf(' '),
    plus: table.indexOf('+'),
    minus: table.indexOf('-'),
    digit,
    signDigit,
  };
}

let LATIN1 = '';
for (let i = 0; i < 256; i++) LATIN1 += String.fromCharCode(i);

const CACHE = new Map<string, CharSet>();

const ALIASES: Readonly<Record<string, string>> = {
  '37': '037',
  '037': '037',
  '500': '500',
  '1047': '1047',
  '1140': '1140',
  latin1: 'latin1',
  'iso-8859-1': 'latin1',
  ascii: 'latin1',
};

export const CODE_PAGE_NAMES = ['cp037', 'cp500', 'cp1047', 'cp1140', 'latin1'];

/** cp037 / 037 / 37 / ibm-037 / IBM037 / ccsid 37, …; latin1 / ascii / iso-8859-1. */
export function codePage(name: string | number): CharSet {
  const key = String(name)
    .toLowerCase()
    .replace(/^(cp|ibm-?|ccsid-?|ebcdic-?)/, '');
  const canon = ALIASES[key];
  if (!canon) throw new ConfigError(`unknown code page '${name}' (supported: ${CODE_PAGE_NAMES.join(', ')})`);
  let cs = CACHE.get(canon);
  if (!cs) {
    const table =
      canon === '037'
        ? CP037
        : canon === '500'
          ? CP500
          : canon === '1047'
            ? CP1047
            : canon === '1140'
              ? CP1140
              : LATIN1;
    cs = build(canon === 'latin1' ? 'latin1' : `cp${canon}`, table, canon !== 'latin1');
    CACHE.set(canon, cs);
  }
  return cs;
}

/** The code page an MQ CodedCharSetId names, if it is one of ours. */
export function codePageForCcsid(ccsid: number): CharSet | undefined {
  if (ccsid === 37 || ccsid === 500 || ccsid === 1047 || ccsid === 1140) return codePage(ccsid);
  if (ccsid === 819) return codePage('latin1');
  return undefined;
}
