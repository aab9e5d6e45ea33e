/**
 * `stockbridge map <mapping.yaml> <input-file>`: map one file, canonical events as JSON lines on stdout, rejects on
 * stderr as `file:line[:col]: [field: ]reason`, and a summary line on stderr.
 *
 * Exit code: 0 when every record mapped or was filtered, 1 when some were rejected, 2 for an invalid mapping (or an
 * input file that cannot be read).
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import type { InventoryEvent } from '../contracts/event.ts';
import type { CompiledMapping, MapContext } from '../contracts/mapping.ts';
import { ConfigError, type DecodedRecord, type RecordError, type SourceRecord } from '../contracts/spi.ts';
import { type LoadOptions, loadMapping } from './compile.ts';

export interface MapFileOptions extends LoadOptions {
  stdout?: Writable;
  stderr?: Writable;
  /** source.receivedAt of the events (default: now). */
  receivedAt?: string;
  /** source.connector of the events (default `file`). */
  connector?: string;
  /** A compiled mapping to use instead of loading `mappingPath`. */
  mapping?: CompiledMapping;
}

export interface MapFileResult {
  code: 0 | 1 | 2;
  records: number;
  mapped: number;
  filtered: number;
  rejected: number;
  events: number;
}

/** `file:line:col: field: reason` for a reject (column and offset when known). */
export function formatReject(file: string, e: RecordError, line?: number, offset?: number): string {
  const l = e.line ?? line;
  let where = e.file ?? file;
  if (l !== undefined) where += `:${l}${e.column !== undefined ? `:${e.column}` : ''}`;
  const off = e.offset ?? offset;
  const tail = l === undefined && off !== undefined ? ` (byte offset ${off})` : '';
  return `${where}: ${describeReject(e)}${tail}`;
}

/** `field: reason` (the field is left out when the reason already starts with it). */
export function describeReject(e: RecordError): string {
  const named = e.field && !e.reason.startsWith(`${e.field} `) ? `${e.field}: ` : '';
  return `${named}${e.reason}`;
}

class LineWriter {
  readonly #out: Writable;
  #buf = '';
  constructor(out: Writable) {
    this.#out = out;
  }
  add(s: string): Promise<void> | undefined {
    this.#buf += s;
    if (this.#buf.length >= 65536) return this.flush();
    return undefined;
  }
  flush(): Promise<void> | undefined {
    if (this.#buf === '') return undefined;
    const ok = this.#out.write(this.#buf);
    this.#buf = '';
    if (ok) return undefined;
    return new Promise((resolve) => this.#out.once('drain', resolve));
  }
}

/** Reads a whole input file through the mapping's format and maps every record. */
export async function mapFile(
  mappingPath: string,
  inputPath: string,
  opts: MapFileOptions = {},
): Promise<MapFileResult> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const res: MapFileResult = { code: 0, records: 0, mapped: 0, filtered: 0, rejected: 0, events: 0 };
  let m: CompiledMapping;
  try {
    m = opts.mapping ?? (await loadMapping(mappingPath, opts));
  } catch (e) {
    if (e instanceof ConfigError) {
      stderr.write(`${e.toString()}\n`);
      return { ...res, code: 2 };
    }
    throw e;
  }
  const name = basename(inputPath);
  const ctx: MapContext = {
    receivedAt: opts.receivedAt ?? new Date().toISOString(),
    connector: opts.connector ?? 'file',
  };
  const meta = Object.freeze({ file: name });
  const out = new LineWriter(stdout);
  const err = new LineWriter(stderr);
  const events: InventoryEvent[] = [];

  const handle = async (recs: DecodedRecord[]) => {
    for (const r of recs) {
      res.records++;
      if (r.error) {
        res.rejected++;
        await err.add(`${formatReject(name, r.error, r.line, r.offset)}\n`);
        continue;
      }
      const rec: SourceRecord = {
        ref: r.line !== undefined ? `${name}:${r.line}` : `${name}@${r.offset}`,
        value: r.value,
        payload: r.raw,
        meta,
      };
      events.length = 0;
      const o = m.map(rec, r.value, events, ctx);
      if (typeof o === 'object') {
        res.rejected++;
        await err.add(`${formatReject(name, o, r.line, r.offset)}\n`);
      } else if (o === 1) res.filtered++;
      else {
        res.mapped++;
        for (const e of events) {
          res.events++;
          const p = out.add(`${JSON.stringify(e)}\n`);
          if (p) await p;
        }
      }
    }
  };

  const decoder = m.format.streamDecoder({ file: name, offset: 0, line: 1 });
  try {
    for await (const chunk of createReadStream(inputPath)) await handle(decoder.push(chunk as Uint8Array));
  } catch (e) {
    const x = e as NodeJS.ErrnoException;
    if (x.code === 'ENOENT' || x.code === 'EACCES' || x.code === 'EISDIR') {
      await out.flush();
      stderr.write(`${inputPath}: cannot read input file (${x.code})\n`);
      return { ...res, code: 2 };
    }
    throw e;
  }
  await handle(decoder.end());
  await out.flush();
  await err.add(
    `${m.id}: ${res.records} records: ${res.mapped} mapped (${res.events} events), ${res.filtered} filtered, ${res.rejected} rejected\n`,
  );
  await err.flush();
  res.code = res.rejected > 0 ? 1 : 0;
  return res;
}
