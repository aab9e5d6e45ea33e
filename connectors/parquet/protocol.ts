/**
 * The sink's writer interface and its two implementations: the writer thread (default) and an inline writer on
 * the calling thread (tests, debugging). The sink only ever talks to a ParquetWriterBackend, so the encoder behind
 * it can change without touching partitioning, rolling or acknowledgement logic.
 */
import { Worker } from 'node:worker_threads';
import { FileWriter, type FileTarget, type ManifestInput, type PublishedFile, type WriterConfig, type WriterError } from './file-writer.ts';
import type { RowGroupData } from './format/encoder.ts';

export interface ParquetWriterBackend {
  /** Append a row group to a file (created by its first row group). Fire and forget: failures surface at publish. */
  rowGroup(file: FileTarget, rg: RowGroupData, transfer: ArrayBuffer[]): void;
  /** Finish the file and publish it atomically; rejects with a WriterError-shaped Error (with `code`). */
  publish(file: FileTarget, manifest?: ManifestInput): Promise<PublishedFile>;
  /** Drop an unpublished file. */
  discard(id: number): void;
  /** Drop anything unpublished and stop. */
  close(): Promise<void>;
}

export type ToWorker =
  | { op: 'rowGroup'; file: FileTarget; rg: RowGroupData }
  | { op: 'publish'; file: FileTarget; manifest?: ManifestInput }
  | { op: 'discard'; id: number }
  | { op: 'close' };

export type FromWorker =
  | { op: 'ready' }
  | { op: 'fatal'; error: WriterError }
  | { op: 'published'; id: number; result: PublishedFile }
  | { op: 'failed'; id: number; error: WriterError }
  | { op: 'closed' };

/** An Error carrying the errno code of the failed file operation. */
export class WriteFailure extends Error {
  override readonly name = 'WriteFailure';
  readonly code?: string;
  constructor(e: WriterError) {
    super(e.message);
    this.code = e.code;
  }
}

/** Runs the FileWriter on the calling thread (blocking file calls: for tests and debugging only). */
export class InlineBackend implements ParquetWriterBackend {
  readonly #w: FileWriter;
  constructor(w: FileWriter) {
    this.#w = w;
  }
  static async start(cfg: WriterConfig): Promise<InlineBackend> {
    const w = new FileWriter(cfg);
    await w.init();
    return new InlineBackend(w);
  }
  rowGroup(file: FileTarget, rg: RowGroupData): void {
    this.#w.rowGroup(file, rg);
  }
  async publish(file: FileTarget, manifest?: ManifestInput): Promise<PublishedFile> {
    try {
      return this.#w.publish(file, manifest);
    } catch (err) {
      throw new WriteFailure(err as WriterError);
    }
  }
  discard(id: number): void {
    this.#w.discard(id);
  }
  async close(): Promise<void> {
    this.#w.discardAll();
  }
}

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

/** Runs the FileWriter in a worker thread: encoding, compression and file I/O never block the event loop. */
export class WorkerBackend implements ParquetWriterBackend {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (r: PublishedFile) => void; reject: (e: Error) => void }>();
  #dead: Error | undefined;
  #closed: (() => void) | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.unref();
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    worker.on('error', (err) => this.#die(new Error(`parquet writer thread crashed: ${err.message}`)));
    worker.on('exit', (code) => {
      this.#closed?.();
      if (!this.#closed) this.#die(new Error(`parquet writer thread exited (code ${code})`));
    });
  }

  static start(cfg: WriterConfig): Promise<WorkerBackend> {
    const worker = new Worker(workerUrl, { workerData: cfg });
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        worker.off('error', onError);
        worker.off('message', onMessage);
        if (m.op === 'ready') resolve(new WorkerBackend(worker));
        else {
          void worker.terminate();
          reject(new Error(m.op === 'fatal' ? m.error.message : `parquet writer thread: unexpected ${m.op}`));
        }
      };
      const onError = (err: Error) => reject(new Error(`parquet writer thread failed to start: ${err.message}`));
      worker.on('message', onMessage);
      worker.once('error', onError);
    });
  }

  #die(err: Error): void {
    this.#dead ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #onMessage(m: FromWorker): void {
    if (m.op === 'published' || m.op === 'failed') {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if (m.op === 'published') p?.resolve(m.result);
      else p?.reject(new WriteFailure(m.error));
    } else if (m.op === 'fatal') this.#die(new Error(m.error.message));
  }

  rowGroup(file: FileTarget, rg: RowGroupData, transfer: ArrayBuffer[]): void {
    if (this.#dead) return; // reported by publish()
    this.#worker.postMessage({ op: 'rowGroup', file, rg } satisfies ToWorker, transfer);
  }

  publish(file: FileTarget, manifest?: ManifestInput): Promise<PublishedFile> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref(); // keep the process alive until the file is out
      this.#pending.set(file.id, { resolve, reject });
      this.#worker.postMessage({ op: 'publish', file, manifest } satisfies ToWorker);
    });
  }

  discard(id: number): void {
    if (!this.#dead) this.#worker.postMessage({ op: 'discard', id } satisfies ToWorker);
  }

  async close(): Promise<void> {
    if (this.#dead) {
      await this.#worker.terminate();
      return;
    }
    const exited = new Promise<void>((r) => (this.#closed = r));
    this.#worker.ref();
    this.#worker.postMessage({ op: 'close' } satisfies ToWorker);
    await new Promise<void>((resolve) => {
      const onMessage = (m: FromWorker) => {
        if (m.op === 'closed') {
          this.#worker.off('message', onMessage);
          resolve();
        }
      };
      this.#worker.on('message', onMessage);
    });
    await this.#worker.terminate();
    await exited;
  }
}
