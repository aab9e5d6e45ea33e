/**
 * `copybook`: fixed-layout binary records described by a COBOL copybook (EBCDIC text, zoned and packed decimals,
 * big-endian binary), from files (fixed-length or RDW variable-length records) or from message payloads (IBM MQ:
 * one message = one record, or a run of records). Reference: docs/copybook.md.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type BoundFormat,
  ConfigError,
  type DecodedRecord,
  type FormatSpec,
  type JsonSchema,
  type StreamDecoder,
  type StreamStart,
} from '../../contracts/spi.ts';
import { CODE_PAGE_NAMES, codePage } from './charset.ts';
import {
  type BlankNumeric,
  compileLayout,
  DecodeFault,
  type FieldNames,
  type Layout,
  type RedefinesRule,
  type Trim,
} from './decoder.ts';
import { parseCopybook, type SourceFormat } from './parser.ts';

export interface CopybookOptions {
  copybook?: string;
  copybookText?: string;
  sourceFormat?: SourceFormat;
  codePage?: string | number;
  record?: string;
  recordFormat?: 'fixed' | 'rdw';
  recordLength?: number;
  message?: 'single' | 'framed';
  strictLength?: boolean;
  redefines?: Record<string, RedefinesRule>;
  fieldNames?: FieldNames;
  dropPrefix?: string;
  flatten?: boolean;
  trim?: Trim;
  blankNumeric?: BlankNumeric;
  maxRecordBytes?: number;
}

export const copybookOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    copybook: { type: 'string', description: 'Copybook file, relative to the mapping file.' },
    copybookText: { type: 'string', description: 'The copybook inline (instead of `copybook`).' },
    sourceFormat: {
      enum: ['auto', 'fixed', 'free'],
      default: 'auto',
      description: 'Copybook source layout: fixed (sequence area 1–6, indicator 7, code 8–72), free, or auto-detected.',
    },
    codePage: {
      anyOf: [{ type: 'string' }, { type: 'integer' }],
      default: 'cp037',
      description: `Code page of the DISPLAY (text and zoned) fields: ${CODE_PAGE_NAMES.join(', ')} (also 037, 1047, IBM-1140, …).`,
    },
    record: { type: 'string', description: 'Decode only this 01 record of a copybook that has several.' },
    recordFormat: {
      enum: ['fixed', 'rdw'],
      default: 'fixed',
      description:
        'Framing of a byte stream: fixed-length records, or variable-length records each behind a 4-byte RDW.',
    },
    recordLength: {
      type: 'integer',
      minimum: 1,
      description: 'Fixed record length in bytes (default: the layout size).',
    },
    message: {
      enum: ['single', 'framed'],
      default: 'single',
      description: 'A message payload is one record (`single`), or a run of records framed like a file (`framed`).',
    },
    strictLength: {
      type: 'boolean',
      default: true,
      description: 'Reject a message or RDW record whose length differs from what the layout decodes.',
    },
    redefines: {
      type: 'object',
      description:
        'REDEFINES selection: key = a member of the REDEFINES set (or a record name for copybooks with several 01 records); ' +
        'value = { field: discriminator, when: { value: view name }, otherwise?: view name }.',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['field', 'when'],
        properties: {
          field: { type: 'string' },
          when: { type: 'object', additionalProperties: { type: 'string' } },
          otherwise: { type: 'string' },
        },
      },
    },
    fieldNames: {
      enum: ['snake', 'camel', 'cobol', 'underscore'],
      default: 'snake',
      description:
        'Field names in decoded records: snake (store_no), camel (storeNo), underscore (STORE_NO), cobol (STORE-NO).',
    },
    dropPrefix: {
      type: 'string',
      description: 'Prefix removed from every field name before conversion, e.g. `DTAR020-`.',
    },
    flatten: {
      type: 'boolean',
      default: false,
      description: 'Put the fields of groups at the top level (OCCURS stay arrays).',
    },
    trim: { enum: ['right', 'both', 'none'], default: 'right', description: 'Spaces removed from text fields.' },
    blankNumeric: {
      enum: ['reject', 'null', 'zero'],
      default: 'reject',
      description:
        'A zoned or packed field that is all spaces or all low-values: reject the record, or read it as null or zero.',
    },
    maxRecordBytes: { type: 'integer', minimum: 16, default: 65_535, description: 'Largest RDW record accepted.' },
  },
};

// ---------------------------------------------------------------------------------------------------------------

interface Config {
  layout: Layout;
  framing: 'fixed' | 'rdw';
  recordLength: number;
  message: 'single' | 'framed';
  strict: boolean;
  maxRecordBytes: number;
}

function fault(err: unknown, file: string): DecodedRecord['error'] {
  if (err instanceof DecodeFault)
    return { stage: 'decode', reason: err.message, offset: err.offset, field: err.field, file };
  throw err;
}

/** Stream decoder for fixed or RDW framing; offsets are absolute in the stream. */
class CopybookStreamDecoder implements StreamDecoder {
  readonly #c: Config;
  readonly #file: string;
  /** Absolute offset of #buf[0]. */
  #base: number;
  #buf: Uint8Array = new Uint8Array(0);
  #len = 0;
  /** After a broken RDW: everything from #brokenAt on is one reject at end(). */
  #brokenAt = -1;
  #brokenReason = '';
  #brokenRaw: Uint8Array[] = [];
  #brokenRawLen = 0;
  #total: number;
  /** Raw record bytes must be copied when they come from #buf (reused), not from the caller's chunk. */
  #copyRaw = false;

  constructor(c: Config, start: StreamStart) {
    this.#c = c;
    this.#file = start.file;
    this.#base = start.offset;
    this.#total = start.offset;
  }

  resumeState(): unknown {
    return null;
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    this.#total += chunk.length;
    const out: DecodedRecord[] = [];
    let p = 0;
    // First complete the record that straddles the previous chunk boundary (kept in #buf), one frame at a time.
    while (this.#len > 0 && this.#brokenAt < 0 && p < chunk.length) {
      const need = this.#frameLength(this.#buf, this.#len);
      const take = Math.min(need - this.#len, chunk.length - p);
      this.#append(chunk.subarray(p, p + take));
      p += take;
      if (this.#len < need) break;
      if (need === 4 && this.#c.framing === 'rdw' && this.#frameLength(this.#buf, 4) > 4) continue; // header only so far
      this.#copyRaw = true;
      const used = this.#frames(this.#buf.subarray(0, this.#len), out);
      this.#copyRaw = false;
      if (this.#brokenAt >= 0) {
        this.#keepBroken(this.#buf.subarray(used, this.#len));
        this.#len = 0;
        break;
      }
      this.#len -= used; // 0: exactly one frame was completed
    }
    if (this.#brokenAt >= 0) {
      if (p < chunk.length) this.#keepBroken(chunk.subarray(p));
      return out;
    }
    if (p < chunk.length) {
      const data = p === 0 ? chunk : chunk.subarray(p);
      const used = this.#frames(data, out);
      if (this.#brokenAt >= 0) this.#keepBroken(data.subarray(used));
      else if (used < data.length) this.#append(data.subarray(used));
    }
    return out;
  }

  /** Bytes of the first frame in buf[0, len): the fixed length, or 4 until the RDW is complete, then its length. */
  #frameLength(buf: Uint8Array, len: number): number {
    if (this.#c.framing === 'fixed') return this.#c.recordLength;
    if (len < 4) return 4;
    const n = (buf[0] << 8) | buf[1];
    return n < 5 || n - 4 > this.#c.maxRecordBytes ? 4 : n; // an invalid RDW is detected by #frames
  }

  #append(bytes: Uint8Array): void {
    const need = this.#len + bytes.length;
    if (this.#buf.length < need) {
      const next = new Uint8Array(Math.max(need, this.#buf.length * 2, 256));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = need;
  }

  /** Decode every complete frame of data (data[0] is at absolute offset #base); returns the bytes consumed. */
  #frames(data: Uint8Array, out: DecodedRecord[]): number {
    const used = this.#c.framing === 'fixed' ? this.#fixed(data, out) : this.#rdw(data, out);
    this.#base += used;
    return used;
  }

  #keepBroken(bytes: Uint8Array): void {
    if (this.#brokenRawLen < 4096) {
      const take = bytes.subarray(0, 4096 - this.#brokenRawLen);
      this.#brokenRaw.push(take.slice());
      this.#brokenRawLen += take.length;
    }
  }

  #record(data: Uint8Array, start: number, end: number, out: DecodedRecord[], strict: boolean): void {
    const offset = this.#base + start;
    const raw = this.#copyRaw ? data.slice(start, end) : data.subarray(start, end);
    try {
      const { value, consumed } = this.#c.layout.decode(data, start, end, offset);
      if (strict && consumed !== end - start) {
        out.push({
          raw,
          offset,
          end: this.#base + end,
          error: {
            stage: 'decode',
            reason: `length mismatch: the record is ${end - start} bytes but the layout decodes ${consumed} (${end - start - consumed} extra bytes at offset ${offset + consumed})`,
            offset: offset + consumed,
            file: this.#file,
          },
        });
        return;
      }
      out.push({ value, raw, offset, end: this.#base + end });
    } catch (err) {
      out.push({ raw, offset, end: this.#base + end, error: fault(err, this.#file) });
    }
  }

  #fixed(data: Uint8Array, out: DecodedRecord[]): number {
    const L = this.#c.recordLength;
    let p = 0;
    while (p + L <= data.length) {
      this.#record(data, p, p + L, out, false);
      p += L;
    }
    return p;
  }

  #rdw(data: Uint8Array, out: DecodedRecord[]): number {
    let p = 0;
    while (p + 4 <= data.length) {
      const len = (data[p] << 8) | data[p + 1];
      const seg = (data[p + 2] << 8) | data[p + 3];
      if (len < 5 || seg !== 0 || len - 4 > this.#c.maxRecordBytes) {
        this.#brokenAt = this.#base + p;
        this.#brokenReason =
          len < 5
            ? `invalid RDW at offset ${this.#brokenAt}: length ${len} (an RDW counts its own 4 bytes, so at least 5)`
            : seg !== 0
              ? `invalid RDW at offset ${this.#brokenAt}: segment bytes 0x${seg.toString(16).padStart(4, '0')} (spanned records are not supported; is this really RDW framing?)`
              : `invalid RDW at offset ${this.#brokenAt}: record length ${len - 4} exceeds maxRecordBytes ${this.#c.maxRecordBytes}`;
        return p;
      }
      if (p + len > data.length) break;
      this.#record(data, p + 4, p + len, out, this.#c.strict);
      // The record's raw bytes and offset cover its RDW too.
      const r = out[out.length - 1];
      r.offset = this.#base + p;
      r.raw = this.#copyRaw ? data.slice(p, p + len) : data.subarray(p, p + len);
      p += len;
    }
    return p;
  }

  end(): DecodedRecord[] {
    if (this.#brokenAt >= 0) {
      const raw = Buffer.concat(this.#brokenRaw);
      const reason = `${this.#brokenReason}; the remaining ${this.#total - this.#brokenAt} bytes cannot be framed`;
      const at = this.#brokenAt;
      this.#base = this.#total;
      return [{ raw, offset: at, end: this.#total, error: { stage: 'decode', reason, offset: at, file: this.#file } }];
    }
    if (this.#len === 0) return [];
    const raw = this.#buf.slice(0, this.#len);
    const offset = this.#base;
    const n = this.#len;
    this.#len = 0;
    this.#base += n;
    const what =
      this.#c.framing === 'fixed'
        ? `truncated last record: ${n} of ${this.#c.recordLength} bytes at offset ${offset}`
        : n < 4
          ? `truncated RDW at offset ${offset}: ${n} of 4 bytes`
          : `truncated last record at offset ${offset}: the RDW announces ${((raw[0] << 8) | raw[1]) - 4} bytes, ${n - 4} present`;
    return [{ raw, offset, end: offset + n, error: { stage: 'decode', reason: what, offset, file: this.#file } }];
  }
}

export class CopybookFormat implements BoundFormat {
  readonly name = 'copybook';
  readonly binary = true;
  readonly config: Config;
  /** CCSID of the code page the DISPLAY fields are decoded with (37, 500, 1047, 1140; 819 for latin1). */
  readonly ccsid: number;

  constructor(options: CopybookOptions, baseDir: string) {
    let text = options.copybookText;
    let file = '<copybookText>';
    if (options.copybook !== undefined) {
      if (text !== undefined) throw new ConfigError('copybook: give either `copybook` or `copybookText`, not both');
      file = resolve(baseDir, options.copybook);
      try {
        text = readFileSync(file, 'latin1');
      } catch (err) {
        throw new ConfigError(`copybook: cannot read ${file}: ${(err as Error).message}`);
      }
    }
    if (text === undefined)
      throw new ConfigError('copybook: missing option `copybook` (the copybook file) or `copybookText`');
    const cb = parseCopybook(text, file, { sourceFormat: options.sourceFormat });
    const charset = codePage(options.codePage ?? 'cp037');
    this.ccsid = charset.ebcdic ? Number(charset.name.slice(2)) : 819;
    const layout = compileLayout(cb, {
      charset,
      fieldNames: options.fieldNames ?? 'snake',
      dropPrefix: options.dropPrefix,
      flatten: options.flatten ?? false,
      trim: options.trim ?? 'right',
      blankNumeric: options.blankNumeric ?? 'reject',
      record: options.record,
      redefines: options.redefines,
    });
    const framing = options.recordFormat ?? 'fixed';
    const recordLength = options.recordLength ?? layout.size;
    if (framing === 'fixed' && recordLength < 1) throw new ConfigError('copybook: the layout is empty');
    this.config = {
      layout,
      framing,
      recordLength,
      message: options.message ?? 'single',
      strict: options.strictLength ?? true,
      maxRecordBytes: options.maxRecordBytes ?? 65_535,
    };
  }

  get layout(): Layout {
    return this.config.layout;
  }

  streamDecoder(start: StreamStart): StreamDecoder {
    return new CopybookStreamDecoder(this.config, start);
  }

  decodeMessage(payload: Uint8Array | string, ref: string): DecodedRecord[] {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    if (this.config.message === 'framed') {
      const d = new CopybookStreamDecoder(this.config, { file: ref, offset: 0, line: 1 });
      const out = d.push(bytes);
      for (const r of d.end()) out.push(r);
      return out;
    }
    const n = bytes.length;
    try {
      const { value, consumed } = this.config.layout.decode(bytes, 0, n, 0);
      if (consumed !== n && this.config.strict)
        return [
          {
            raw: bytes,
            offset: 0,
            end: n,
            error: {
              stage: 'decode',
              reason: `length mismatch: message ${ref} is ${n} bytes but the layout decodes ${consumed} (${n - consumed} extra bytes at offset ${consumed})`,
              offset: consumed,
              file: ref,
            },
          },
        ];
      return [{ value, raw: bytes, offset: 0, end: n }];
    } catch (err) {
      const e = fault(err, ref)!;
      if (n < this.config.layout.size && /record too short/.test(e.reason))
        e.reason = `length mismatch: message ${ref} is ${n} bytes, the layout needs ${this.config.layout.variable ? 'more' : this.config.layout.size}; ${e.reason}`;
      else e.reason = `message ${ref}: ${e.reason}`;
      return [{ raw: bytes, offset: 0, end: n, error: e }];
    }
  }
}

export const copybookFormat: FormatSpec = {
  name: 'copybook',
  summary:
    'COBOL copybook records: EBCDIC (037/500/1047/1140) text, zoned, packed and binary numbers; fixed or RDW framing.',
  options: copybookOptionsSchema,
  bind(options, baseDir) {
    return new CopybookFormat(options as CopybookOptions, baseDir);
  },
};
