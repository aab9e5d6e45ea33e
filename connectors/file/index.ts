/**
 * `file`: reads one file (or stdin) through the mapping's input format, with a byte-offset checkpoint so a
 * restart resumes exactly after the last committed record. Ends at end of file (use `file-drop` for folders
 * that keep receiving files).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type {
  DecodedRecord,
  Source,
  SourceBatch,
  SourceContext,
  SourceRecord,
  SourceSpec,
} from '../../runtime/contracts/spi.ts';

export interface FileSourceOptions {
  path: string;
  chunkSize: number;
}

export const fileSource: SourceSpec<FileSourceOptions> = {
  kind: 'source',
  name: 'file',
  summary: 'One file or stdin, decoded by the mapping’s input format; resumes at the committed byte offset.',
  delivery: 'at-least-once (files); stdin has no checkpoint: a crash loses what stdin had delivered',
  options: {
    required: ['path'],
    properties: {
      path: { type: 'string', description: 'File to read (relative to the pipeline file), or `-` for stdin.' },
      chunkSize: { type: 'integer', minimum: 1024, default: 262_144, description: 'Read size in bytes.' },
    },
  },
  example: 'source:\n  type: file\n  path: ../samples/events.jsonl',
  create(options, ctx) {
    const path = options.path === '-' ? '-' : resolve(ctx.baseDir, options.path);
    return new FileSource(path, options.path, options.chunkSize, ctx.source);
  },
};

export interface FilePosition {
  offset: number;
  line: number;
  resume: unknown;
  ino: number;
}

export class FileSource implements Source<FilePosition> {
  readonly #path: string;
  readonly #label: string;
  readonly #chunk: number;
  readonly #ctx: SourceContext;

  constructor(path: string, label: string, chunkSize: number, ctx: SourceContext) {
    this.#path = path;
    this.#label = label === '-' ? 'stdin' : label;
    this.#chunk = chunkSize;
    this.#ctx = ctx;
  }

  get #key(): string {
    return `file:${this.#path}`;
  }

  async *batches(): AsyncGenerator<SourceBatch<FilePosition>> {
    const { format, batchSize, signal, log } = this.#ctx;
    let start = { offset: 0, line: 1, resume: undefined as unknown };
    let ino = 0;
    let input: AsyncIterable<Buffer>;
    if (this.#path === '-') {
      input = process.stdin;
    } else {
      const st = await stat(this.#path);
      ino = st.ino;
      const cp = await this.#ctx.state.getCheckpoint<FilePosition>(this.#key);
      if (cp && cp.ino === st.ino && cp.offset <= st.size) {
        start = cp;
        if (cp.offset > 0) log.info({ file: this.#label, offset: cp.offset, line: cp.line }, 'resuming after the last committed record');
      } else if (cp) {
        log.warn({ file: this.#label }, 'file was replaced or truncated since the last checkpoint; reading it from the start');
      }
      if (start.offset === st.size && st.size > 0) return;
      input = createReadStream(this.#path, { start: start.offset, highWaterMark: this.#chunk });
    }
    const decoder = format.streamDecoder({ file: this.#label, offset: start.offset, line: start.line, resume: start.resume });
    const meta = Object.freeze({ file: this.#label });
    let records: SourceRecord[] = [];
    let last: DecodedRecord | undefined;
    const position = (): FilePosition => ({
      offset: last!.end,
      line: last!.endLine ?? (last!.line ?? 0) + 1,
      resume: decoder.resumeState(),
      ino,
    });
    const take = (r: DecodedRecord) => {
      const ref = r.line !== undefined ? `${this.#label}:${r.line}` : `${this.#label}@${r.offset}`;
      records.push(
        r.error
          ? { ref, payload: r.raw, meta, error: { ...r.error, file: this.#label } }
          : { ref, value: r.value, payload: r.raw, meta },
      );
      last = r;
    };
    for await (const chunk of input) {
      for (const r of decoder.push(chunk)) {
        take(r);
        if (records.length >= batchSize) {
          yield { records, position: position(), unit: this.#label };
          records = [];
        }
      }
      if (signal.aborted) return;
    }
    for (const r of decoder.end()) take(r);
    if (records.length) yield { records, position: position(), unit: this.#label };
  }

  async commit(positions: FilePosition[]): Promise<void> {
    if (this.#path === '-') return;
    await this.#ctx.state.putCheckpoint(this.#key, positions[positions.length - 1]);
  }

  async close(): Promise<void> {}
}
