/**
 * `jsonl`: canonical events as JSON lines, to a file or stdout. A write is acknowledged once the lines are on
 * disk (fdatasync). A torn last line left by a crash is cut off when the file is reopened: it was never
 * acknowledged, so its events come again from the source.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import type { Logger, Sink, SinkSpec } from '../../runtime/contracts/spi.ts';

export interface JsonlSinkOptions {
  path: string;
  fsync: boolean;
}

export const jsonlSink: SinkSpec<JsonlSinkOptions> = {
  kind: 'sink',
  name: 'jsonl',
  summary: 'Canonical events as JSON lines to a file (fsync before acknowledging) or stdout.',
  delivery: 'at-least-once: acknowledged after fdatasync; duplicates after a crash carry the same eventId',
  options: {
    required: ['path'],
    properties: {
      path: { type: 'string', description: 'Output file (relative to the pipeline file; appended to), or `-` for stdout.' },
      fsync: { type: 'boolean', default: true, description: 'fdatasync before acknowledging a write.' },
    },
  },
  example: 'sinks:\n  - type: jsonl\n    path: ../out/events.jsonl',
  create(options, ctx) {
    if (options.path === '-') return new StdoutSink();
    return new JsonlFileSink(resolve(ctx.baseDir, options.path), options.fsync, ctx.log);
  },
};

function serialize(events: readonly InventoryEvent[]): string {
  let s = '';
  for (const e of events) s += `${JSON.stringify(e)}\n`;
  return s;
}

class StdoutSink implements Sink {
  write(events: readonly InventoryEvent[]): Promise<void> {
    return new Promise((res, rej) => process.stdout.write(serialize(events), (err) => (err ? rej(err) : res())));
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export class JsonlFileSink implements Sink {
  readonly #path: string;
  readonly #fsync: boolean;
  readonly #log: Logger;
  #fh: Promise<FileHandle> | undefined;
  #tail: Promise<void> = Promise.resolve();

  constructor(path: string, fsync: boolean, log: Logger) {
    this.#path = path;
    this.#fsync = fsync;
    this.#log = log;
  }

  async #open(): Promise<FileHandle> {
    mkdirSync(dirname(this.#path), { recursive: true });
    const fh = await open(this.#path, 'a+');
    const { size } = await fh.stat();
    if (size > 0) {
      // Cut a torn last line (crash mid-write): scan back to the last newline.
      const tail = Buffer.alloc(Math.min(size, 1 << 20));
      await fh.read(tail, 0, tail.length, size - tail.length);
      if (tail[tail.length - 1] !== 0x0a) {
        const nl = tail.lastIndexOf(0x0a);
        const keep = nl < 0 ? size - tail.length : size - tail.length + nl + 1;
        await fh.truncate(keep);
        await fh.datasync();
        this.#log.warn({ file: this.#path, cutBytes: size - keep }, 'cut a torn last line left by an earlier crash');
      }
    }
    return fh;
  }

  write(events: readonly InventoryEvent[]): Promise<void> {
    const data = serialize(events);
    this.#fh ??= this.#open();
    const p = this.#tail.then(async () => {
      const fh = await this.#fh!;
      await fh.write(data);
      if (this.#fsync) await fh.datasync();
    });
    this.#tail = p.catch(() => undefined);
    return p;
  }

  flush(): Promise<void> {
    return this.#tail;
  }

  async close(): Promise<void> {
    await this.#tail;
    if (this.#fh) await (await this.#fh).close();
  }
}
