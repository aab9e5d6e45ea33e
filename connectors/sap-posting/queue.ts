/**
 * The optional posting queue on BullMQ/Redis (`queue: {redis: …}`): each posting is a job whose id is the event id
 * (adding it again is a no-op: dedupe), a worker in this process runs the outbox state machine with a rate limit that
 * protects SAP, technical failures are retried by BullMQ with exponential backoff, and a job that runs out of attempts
 * stays in the failed set — visible and replayable with `stockbridge dlq postings` — while the pipeline waits for it.
 * Business rejects complete their job (dead-lettered, never retried).
 */
import type { Job, Queue, QueueEvents, Worker } from 'bullmq';
import type { Logger, OutboxEntry } from '../../runtime/contracts/spi.ts';
import type { Outcome, PostingOutbox, Work } from './outbox.ts';

export interface QueueOptions {
  redis: string;
  /** Queue name; default `stockbridge-sap-posting-<pipeline>-<sink>`. */
  name?: string;
  /** At most `max` postings per `durationMs` (all workers of the queue together). */
  rateLimit?: { max: number; durationMs: number };
  /** Attempts per job for technical errors before it lands in the failed set. */
  attempts?: number;
  /** First retry delay (doubles each attempt). */
  backoffMs?: number;
  /** Jobs worked on in parallel by this process. */
  concurrency?: number;
  /** Completed jobs are kept this long (dedupe window of the queue itself; the outbox dedupes forever). */
  keepCompletedHours?: number;
}

export function connectionOf(url: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: object; maxRetriesPerRequest: null } {
  const u = new URL(url);
  const c: ReturnType<typeof connectionOf> = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
  if (u.username) c.username = decodeURIComponent(u.username);
  if (u.password) c.password = decodeURIComponent(u.password);
  const db = u.pathname.replace('/', '');
  if (db) c.db = Number(db);
  if (u.protocol === 'rediss:') c.tls = {};
  return c;
}

export function queueName(pipeline: string, sink: string, o: Pick<QueueOptions, 'name'>): string {
  return o.name ?? `stockbridge-sap-posting-${pipeline}-${sink}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** bullmq, loaded on first use (it is only needed when a sink has `queue:`). */
async function bullmq(): Promise<typeof import('bullmq')> {
  return import('bullmq');
}

export class PostingQueue {
  /** Connects the queue, its events and a worker. */
  static async create(o: QueueOptions, name: string, outbox: PostingOutbox, settleMs: number, log: Logger): Promise<PostingQueue> {
    const q = new PostingQueue(await bullmq(), o, name, outbox, settleMs, log);
    await q.ready();
    return q;
  }

  readonly #o: QueueOptions;
  readonly #outbox: PostingOutbox;
  readonly #log: Logger;
  readonly queue: Queue;
  readonly #events: QueueEvents;
  readonly #worker: Worker;

  readonly #Unrecoverable: typeof import('bullmq').UnrecoverableError;

  private constructor(mq: typeof import('bullmq'), o: QueueOptions, name: string, outbox: PostingOutbox, settleMs: number, log: Logger) {
    const { Queue, QueueEvents, Worker } = mq;
    this.#Unrecoverable = mq.UnrecoverableError;
    this.#o = o;
    this.#outbox = outbox;
    this.#log = log;
    const connection = connectionOf(o.redis);
    this.queue = new Queue(name, { connection });
    this.#events = new QueueEvents(name, { connection });
    this.#worker = new Worker(name, (job: Job) => this.#process(job), {
      connection,
      concurrency: o.concurrency ?? 4,
      limiter: o.rateLimit ? { max: o.rateLimit.max, duration: o.rateLimit.durationMs } : undefined,
      // a lookup may wait settleMs inside the job
      lockDuration: Math.max(30_000, settleMs * 2 + 30_000),
    });
    this.#worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1))
        log.error({ eventId: job.id, attempts: job.attemptsMade, err: err.message }, 'posting job failed for good: replay it with `stockbridge dlq postings --retry`');
    });
    this.#worker.on('error', (err) => log.warn({ err: err.message }, 'posting queue worker error'));
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.#events.waitUntilReady(), this.#worker.waitUntilReady()]);
  }

  async #process(job: Job): Promise<Outcome> {
    const w = job.data as Work;
    const [entry] = await this.#outbox.open([w]);
    const out = await this.#outbox.process(entry, w.event);
    if (out.kind === 'fatal') throw new this.#Unrecoverable(out.error);
    if (out.kind === 'open') throw new Error(out.error);
    return out;
  }

  /** Enqueues the entries that are not final and waits until each is final (or its job failed for good). */
  async run(work: readonly Work[], entries: readonly OutboxEntry[]): Promise<Outcome[]> {
    const out: Outcome[] = new Array(work.length);
    const todo: number[] = [];
    entries.forEach((e, i) => {
      if (e.state === 'POSTED' || e.state === 'FAILED') out[i] = { kind: 'duplicate', state: e.state };
      else todo.push(i);
    });
    if (todo.length === 0) return out;
    await this.queue.addBulk(
      todo.map((i) => ({
        name: 'post',
        data: work[i],
        opts: {
          jobId: work[i].event.eventId,
          attempts: this.#o.attempts ?? 8,
          backoff: { type: 'exponential', delay: this.#o.backoffMs ?? 1000 },
          removeOnComplete: { age: (this.#o.keepCompletedHours ?? 24) * 3600 },
          removeOnFail: false,
        },
      })),
    );
    await Promise.all(todo.map(async (i) => (out[i] = await this.#wait(work[i]))));
    return out;
  }

  async #wait(w: Work): Promise<Outcome> {
    const id = w.event.eventId;
    for (;;) {
      const job = await this.queue.getJob(id);
      if (!job) {
        // removed meanwhile (completed long ago, or by an operator): the outbox knows the truth
        const [entry] = await this.#outbox.open([w]);
        if (entry.state === 'POSTED' || entry.state === 'FAILED') return { kind: 'duplicate', state: entry.state };
        await this.queue.add('post', w, { jobId: id, attempts: this.#o.attempts ?? 8, backoff: { type: 'exponential', delay: this.#o.backoffMs ?? 1000 }, removeOnFail: false });
        continue;
      }
      const state = await job.getState();
      if (state === 'completed') return job.returnvalue as Outcome;
      if (state === 'failed')
        return { kind: 'open', error: `posting job ${id} failed after ${job.attemptsMade} attempt(s): ${job.failedReason}; replay it with \`stockbridge dlq postings <pipeline> --retry\`` };
      try {
        return (await job.waitUntilFinished(this.#events, 5000)) as Outcome;
      } catch {
        // timed out waiting or failed: look at the job again
      }
    }
  }

  async close(): Promise<void> {
    await this.#worker.close().catch((err: Error) => this.#log.warn({ err: err.message }, 'closing the posting worker failed'));
    await this.#events.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
  }
}
