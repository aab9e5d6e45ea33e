/**
 * `idoc`: SAP IDocs, flat (EDI_DC40/EDI_DD40 records) or IDoc-XML, one decoded record per IDoc: its control record
 * and segment tree (tree.ts). Segment field layouts come from YAML files: the shipped ones (segments/: WMMBID02,
 * MBGMCR03, LOISTD01, MATMAS05) plus the user's (`segments:`), later files replacing earlier definitions of the same
 * segment. See docs/idoc.md.
 */
import { resolve } from 'node:path';
import type { BoundFormat, DecodedRecord, FormatSpec, JsonSchema, StreamDecoder, StreamStart } from '../../contracts/spi.ts';
import { bomLength, type Encoding, encodingSchema, MIB, normalizeEncoding, payloadBytes } from '../common.ts';
import { FlatIdocDecoder, type FlatOptions, type FlatResume } from './flat.ts';
import { BUILTIN_SEGMENTS_DIR, SegmentCatalog } from './layout.ts';
import type { UnknownSegments } from './tree.ts';
import { XmlIdocDecoder, type XmlResume } from './xml.ts';

export type { IdocTree, SegmentNode } from './tree.ts';
export { SegmentCatalog } from './layout.ts';

export interface IdocOptions {
  syntax?: 'auto' | 'flat' | 'xml';
  segments?: string[];
  builtinSegments?: boolean;
  encoding?: string;
  unknownSegments?: UnknownSegments;
  maxIdocBytes?: number;
}

export const idocOptionsSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    syntax: {
      enum: ['auto', 'flat', 'xml'],
      default: 'auto',
      description: '`flat` (EDI_DC40/EDI_DD40 records), `xml` (IDoc-XML), or `auto`: XML when the input starts with `<`.',
    },
    segments: {
      type: 'array',
      items: { type: 'string' },
      default: [],
      description:
        'Segment layout YAML files or folders (relative to the mapping file), loaded after the shipped ones: your own ' +
        'IDoc types, Z-segments, or a shipped segment re-declared for your release (the later definition wins).',
    },
    builtinSegments: {
      type: 'boolean',
      default: true,
      description: 'Load the shipped layouts (WMMBID02, MBGMCR03, LOISTD01, MATMAS05) first.',
    },
    encoding: encodingSchema(' IDoc-XML files may name their encoding in the XML declaration, which then wins.'),
    unknownSegments: {
      enum: ['keep', 'reject'],
      default: 'keep',
      description:
        'A segment without a layout: `keep` it (flat: its trimmed SDATA text as field `SDATA`; XML: its fields as ' +
        'given), or `reject` the IDoc.',
    },
    maxIdocBytes: {
      type: 'integer',
      minimum: 1024,
      default: 64 * MIB,
      description: 'Largest IDoc held in memory; a larger one is rejected (and skipped without being held).',
    },
  },
};

interface Bound {
  syntax: 'auto' | 'flat' | 'xml';
  catalog: SegmentCatalog;
  encoding: Encoding;
  unknownSegments: UnknownSegments;
  maxIdocBytes: number;
}

/** Builds the segment catalog: shipped layouts (unless disabled), then the user's files in order. */
export function loadCatalog(paths: string[] = [], baseDir = process.cwd(), builtin = true): SegmentCatalog {
  const c = new SegmentCatalog();
  if (builtin) c.load(BUILTIN_SEGMENTS_DIR);
  for (const p of paths) c.load(resolve(baseDir, p));
  return c;
}

/** Waits for the first significant byte, then hands everything to the flat or the XML decoder. */
class AutoDecoder implements StreamDecoder {
  readonly #b: Bound;
  readonly #start: StreamStart;
  #inner: StreamDecoder | undefined;
  #pending: Buffer[] = [];
  #pendingLen = 0;

  constructor(b: Bound, start: StreamStart) {
    this.#b = b;
    this.#start = start;
    const r = start.resume as FlatResume | XmlResume | undefined;
    if (r?.syntax === 'flat' || b.syntax === 'flat') this.#inner = new FlatIdocDecoder(b as FlatOptions, start);
    else if (r?.syntax === 'xml' || b.syntax === 'xml') this.#inner = new XmlIdocDecoder(b, start);
  }

  push(chunk: Uint8Array): DecodedRecord[] {
    if (this.#inner) return this.#inner.push(chunk);
    this.#pending.push(Buffer.from(chunk));
    this.#pendingLen += chunk.length;
    return this.#decide(false);
  }

  end(): DecodedRecord[] {
    if (!this.#inner) {
      const out = this.#decide(true);
      return this.#inner ? [...out, ...(this.#inner as StreamDecoder).end()] : out;
    }
    return this.#inner.end();
  }

  resumeState(): unknown {
    return this.#inner?.resumeState() ?? null;
  }

  #decide(final: boolean): DecodedRecord[] {
    const buf = Buffer.concat(this.#pending, this.#pendingLen);
    let i = this.#start.offset === 0 ? Math.max(0, bomLength(buf, buf.length, final)) : 0;
    while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d)) i++;
    if (i >= buf.length && !final) return [];
    const xml = i < buf.length && buf[i] === 0x3c;
    this.#inner = xml ? new XmlIdocDecoder(this.#b, this.#start) : new FlatIdocDecoder(this.#b as FlatOptions, this.#start);
    this.#pending = [];
    return buf.length ? this.#inner.push(buf) : [];
  }
}

export function bindIdoc(options: IdocOptions, baseDir: string): BoundFormat & { catalog: SegmentCatalog } {
  const b: Bound = {
    syntax: options.syntax ?? 'auto',
    catalog: loadCatalog(options.segments ?? [], baseDir, options.builtinSegments ?? true),
    encoding: normalizeEncoding(options.encoding),
    unknownSegments: options.unknownSegments ?? 'keep',
    maxIdocBytes: options.maxIdocBytes ?? 64 * MIB,
  };
  return {
    name: 'idoc',
    catalog: b.catalog,
    streamDecoder: (start) => new AutoDecoder(b, start),
    decodeMessage(payload, ref) {
      const d = new AutoDecoder(b, { file: ref, offset: 0, line: 1 });
      return [...d.push(payloadBytes(payload)), ...d.end()];
    },
  };
}

export const idocFormat: FormatSpec = {
  name: 'idoc',
  summary: 'SAP IDocs, flat (EDI_DC40/EDI_DD40, contiguous or line-terminated) or IDoc-XML: one record per IDoc with its segment tree; segment layouts in YAML.',
  options: idocOptionsSchema,
  bind: (options, baseDir) => bindIdoc(options as IdocOptions, baseDir),
};
