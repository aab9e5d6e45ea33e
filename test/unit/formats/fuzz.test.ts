/**
 * Randomised inputs made of each format's special characters (quotes, delimiters, CR/LF, multi-byte and invalid
 * bytes, brackets, tags): decoding never throws, gives the same records for every chunk size, and resumes after
 * every record. Seeded, so a failure reproduces.
 */
import { describe, expect, it } from 'vitest';
import type { BoundFormat } from '../../../runtime/contracts/spi.ts';
import { CsvFormat } from '../../../runtime/formats/csv.ts';
import { FixedWidthFormat } from '../../../runtime/formats/fixed-width.ts';
import { JsonFormat } from '../../../runtime/formats/json.ts';
import { JsonlFormat } from '../../../runtime/formats/jsonl.ts';
import { XmlFormat } from '../../../runtime/formats/xml.ts';
import { decode, expectChunkInvariant, expectResumeInvariant } from './helpers.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random input of up to `n` pieces drawn from `alphabet` (strings are UTF-8, numbers raw bytes). */
function sample(r: () => number, alphabet: Array<string | number>, n: number, prefix = ''): Buffer {
  const parts: Buffer[] = [Buffer.from(prefix)];
  const len = 1 + Math.floor(r() * n);
  for (let i = 0; i < len; i++) {
    const p = alphabet[Math.floor(r() * alphabet.length)];
    parts.push(typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p));
  }
  return Buffer.concat(parts);
}

function check(format: BoundFormat, data: Buffer, seed: number): void {
  try {
    expectChunkInvariant(format, data, Math.min(data.length, 24));
    expectResumeInvariant(format, data, [Number.POSITIVE_INFINITY, 3]);
  } catch (e) {
    throw new Error(`seed ${seed}, input ${JSON.stringify(data.toString('latin1'))}: ${(e as Error).message}`);
  }
}

const ROUNDS = Number(process.env.FORMATS_FUZZ_ROUNDS ?? 150);
const FIRST = Number(process.env.FORMATS_FUZZ_FIRST_SEED ?? 1);
/** Long runs (FORMATS_FUZZ_ROUNDS=5000) need more than the default test timeout. */
const TIMEOUT = Math.max(30_000, ROUNDS * 100);

describe('randomised inputs', { timeout: TIMEOUT }, () => {
  it('csv', () => {
    const alphabet = ['a', 'b', ',', '"', '""', '\n', '\r\n', '\r', ' ', 'é', '😀', 0xff, 0xc3, '#', '\\'];
    const formats = [
      new CsvFormat({}),
      new CsvFormat({ columns: ['x', 'y'], trim: true, comment: '#', skipEmptyLines: false }),
      new CsvFormat({ escape: '\\', maxRecordBytes: 16 }),
      new CsvFormat({ encoding: 'windows-1252', delimiter: ';', maxRecordBytes: 20 }),
    ];
    for (let seed = FIRST; seed < FIRST + ROUNDS; seed++) {
      const r = rng(seed);
      const f = formats[seed % formats.length];
      check(f, sample(r, alphabet, 40, seed % 3 === 0 ? '\uFEFFa,b\n' : 'a,b\n'), seed);
    }
  });

  it('jsonl', () => {
    const alphabet = ['{"a":1}', '[1,', '"x"', '\n', '\r\n', ' ', 'é', 0xff, '}', 'null', '"\\"', '{"b":"😀"}'];
    const f = new JsonlFormat({ maxRecordBytes: 24 });
    for (let seed = FIRST; seed < FIRST + ROUNDS; seed++) check(f, sample(rng(seed), alphabet, 20), seed);
  });

  it('fixed-width', () => {
    const alphabet = ['abcd', '12', ' ', '\n', '\r\n', 'é', '日', 0xe9, 0xff];
    const formats = [
      new FixedWidthFormat({
        columns: [
          { name: 'a', width: 2 },
          { name: 'b', start: 3, length: 3 },
        ],
      }),
      new FixedWidthFormat({ columns: [{ name: 'a', width: 3 }], recordLength: 5, encoding: 'iso-8859-1' }),
      new FixedWidthFormat({ columns: [{ name: 'a', width: 1 }], maxRecordBytes: 16, skipEmptyLines: false }),
    ];
    for (let seed = FIRST; seed < FIRST + ROUNDS; seed++)
      check(formats[seed % formats.length], sample(rng(seed), alphabet, 20), seed);
  });

  it('json', () => {
    const alphabet = ['{"a":', '[', ']', '{', '}', ',', '"x"', '1', 'tru', ' ', '\n', '"i"', ':', '"\\""', 'é', 0xff];
    const formats = [
      new JsonFormat({}),
      new JsonFormat({ recordPath: '$.i' }),
      new JsonFormat({ recordPath: '$.*', maxRecordBytes: 16 }),
    ];
    for (let seed = FIRST; seed < FIRST + ROUNDS; seed++) {
      const r = rng(seed);
      const prefix = seed % 2 ? '{"i":[' : '[';
      check(formats[seed % formats.length], sample(r, alphabet, 16, prefix), seed);
    }
  });

  it('xml', () => {
    const alphabet = [
      '<O>',
      '</O>',
      '<O a="1"/>',
      '<B>',
      '</B>',
      'x',
      '&amp;',
      '&',
      '<',
      ' ',
      '\n',
      'é',
      0xff,
      '<![CDATA[<O>]]>',
      '<!--c-->',
    ];
    const formats = [new XmlFormat({ recordPath: '/R/O' }), new XmlFormat({ recordPath: '/R/O', maxRecordBytes: 20 })];
    for (let seed = FIRST; seed < FIRST + ROUNDS; seed++) {
      const r = rng(seed);
      const data = Buffer.concat([sample(r, alphabet, 14, '<R>'), Buffer.from(seed % 4 ? '</R>' : '')]);
      check(formats[seed % formats.length], data, seed);
    }
  });

  it('never loses bytes: records and rejects cover the input in order', () => {
    const alphabet = ['a', ',', '"', '\n', '\r\n', 'é', 0xff];
    for (let seed = FIRST; seed < FIRST + ROUNDS; seed++) {
      const data = sample(rng(seed), alphabet, 40, 'a,b\n');
      const { records } = decode(new CsvFormat({}), data);
      let at = 4;
      for (const rec of records) {
        expect(rec.offset).toBeGreaterThanOrEqual(at);
        expect(rec.end).toBeGreaterThan(rec.offset);
        // Only empty lines may lie between records.
        expect(data.subarray(at, rec.offset).toString('latin1')).toMatch(/^(\r?\n)*$/);
        at = rec.end;
      }
      expect(data.subarray(at).toString('latin1')).toMatch(/^(\r?\n|\r$)*$/);
    }
  });
});
