/** Builders for synthetic copybook records: EBCDIC text, zoned and packed decimals, binary, RDW framing. */
import type { BoundFormat, DecodedRecord, StreamStart } from '../../../runtime/contracts/spi.ts';
import { codePage } from '../../../runtime/formats/copybook/charset.ts';
import { CopybookFormat, type CopybookOptions } from '../../../runtime/formats/copybook/index.ts';

export function ebcdic(text: string, cp = 'cp037'): Buffer {
  const table = codePage(cp).table;
  return Buffer.from([...text].map((ch) => {
    const i = table.indexOf(ch);
    if (i < 0) throw new Error(`${ch} not in ${cp}`);
    return i;
  }));
}

/** Text padded with spaces to n characters. */
export function pic(text: string, n: number, cp = 'cp037'): Buffer {
  return ebcdic(text.padEnd(n, ' '), cp);
}

/** Packed decimal of `digits` digits (bytes = floor(digits/2)+1), value given as an integer (unscaled). */
export function packed(value: bigint | number, digits: number, sign: 'C' | 'D' | 'F' | 'auto' = 'auto'): Buffer {
  const v = BigInt(value);
  const neg = v < 0n;
  const n = Math.floor(digits / 2) + 1;
  const s = (neg ? -v : v).toString().padStart(n * 2 - 1, '0');
  if (s.length > n * 2 - 1) throw new Error('too many digits');
  const nibbles = [...s].map(Number);
  nibbles.push(sign === 'auto' ? (neg ? 0xd : 0xc) : Number.parseInt(sign, 16));
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (nibbles[2 * i] << 4) | nibbles[2 * i + 1];
  return out;
}

/** Zoned decimal (EBCDIC), trailing embedded sign unless told otherwise. */
export function zoned(value: bigint | number, digits: number, opts: { signed?: boolean; leading?: boolean; separate?: boolean } = {}): Buffer {
  const v = BigInt(value);
  const neg = v < 0n;
  const s = (neg ? -v : v).toString().padStart(digits, '0');
  const bytes = [...s].map((d) => 0xf0 + Number(d));
  if (opts.separate) {
    const sb = neg ? 0x60 : 0x4e;
    return Buffer.from(opts.leading ? [sb, ...bytes] : [...bytes, sb]);
  }
  if (opts.signed) {
    const i = opts.leading ? 0 : bytes.length - 1;
    bytes[i] = ((neg ? 0xd : 0xc) << 4) | (bytes[i] & 15);
  }
  return Buffer.from(bytes);
}

export function binary(value: bigint | number, bytes: 2 | 4 | 8): Buffer {
  const b = Buffer.alloc(bytes);
  if (bytes === 2) b.writeInt16BE(Number(value));
  else if (bytes === 4) b.writeInt32BE(Number(value));
  else b.writeBigInt64BE(BigInt(value));
  return b;
}

export function rdw(record: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(record.length + 4);
  return Buffer.concat([h, record]);
}

export function fmt(opts: CopybookOptions, baseDir = '/'): CopybookFormat {
  return new CopybookFormat(opts, baseDir);
}

export function decodeAll(format: BoundFormat, data: Uint8Array, chunk = Number.POSITIVE_INFINITY, start: Partial<StreamStart> = {}): DecodedRecord[] {
  const d = format.streamDecoder({ file: 'in.dat', offset: 0, line: 1, ...start });
  const out: DecodedRecord[] = [];
  for (let o = 0; o < data.length; o += chunk) out.push(...d.push(data.subarray(o, Math.min(data.length, o + chunk))));
  out.push(...d.end());
  return out;
}

/** Plain data (raw as arrays) for deep comparisons. */
export function plain(recs: DecodedRecord[]): unknown {
  return recs.map((r) => ({ ...r, raw: [...(r.raw as Uint8Array)] }));
}

/** A one-record copybook in free format. */
export function single(body: string, extra: CopybookOptions = {}): CopybookFormat {
  return fmt({ copybookText: body, sourceFormat: 'free', ...extra });
}
