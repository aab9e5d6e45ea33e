/**
 * `stockbridge dlq postings <pipeline>`: the operator's view of the SAP posting outbox and queue.
 *
 *   stockbridge dlq postings p.yaml                      counts, entries not POSTED (PENDING/UNCERTAIN/FAILED), failed queue jobs
 *   stockbridge dlq postings p.yaml --retry [--id …]     failed queue jobs back into the queue (the waiting pipeline goes on)
 *   stockbridge dlq postings p.yaml --repost --id …      re-post FAILED entries now (after fixing the cause in SAP)
 */
import type { Queue } from 'bullmq';
import { builtinRegistry } from '../index.ts';
import { loadPipeline, type ComponentConfig, type PipelineConfig } from '../../runtime/config/pipeline.ts';
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import { OUTBOX_STATES, type OutboxEntry, type OutboxState, type StateStore } from '../../runtime/contracts/spi.ts';
import { stateDirOf } from '../../runtime/engine/pipeline-runner.ts';
import { rootLogger } from '../../runtime/observability/log.ts';
import { openSqliteStore } from '../../runtime/state/sqlite-store.ts';
import { createTransport, outboxScope, type SapPostingOptions } from './index.ts';
import { type Outcome, PostingOutbox } from './outbox.ts';
import { connectionOf, queueName } from './queue.ts';

export interface PostingsOptions {
  stateDir?: string;
  sink?: string;
  state?: string;
  limit?: number;
  retry?: boolean;
  repost?: boolean;
  id?: string[];
  json?: boolean;
}

interface FailedJob {
  id: string;
  attemptsMade: number;
  failedReason: string;
  finishedOn?: number;
}

function sinksOf(cfg: PipelineConfig, name?: string): ComponentConfig[] {
  const sinks = cfg.sinks.filter((s) => s.type === 'sap-posting' && (!name || s.name === name));
  if (sinks.length === 0) throw new Error(name ? `no sap-posting sink named '${name}' in ${cfg.file}` : `${cfg.file} has no sap-posting sink`);
  return sinks;
}

async function withQueue<T>(cfg: PipelineConfig, sink: ComponentConfig, fn: (q: Queue) => Promise<T>): Promise<T | undefined> {
  const o = sink.options as unknown as SapPostingOptions;
  if (!o.queue) return undefined;
  const { Queue } = await import('bullmq');
  const q = new Queue(queueName(cfg.name, sink.name, o.queue), { connection: connectionOf(o.queue.redis) });
  return fn(q).finally(() => q.close());
}

export async function failedJobs(cfg: PipelineConfig, sink: ComponentConfig, limit = 100): Promise<FailedJob[] | undefined> {
  return withQueue(cfg, sink, async (q) =>
    (await q.getFailed(0, limit - 1)).map((j) => ({ id: String(j.id), attemptsMade: j.attemptsMade, failedReason: j.failedReason, finishedOn: j.finishedOn })),
  );
}

/** Failed queue jobs (all, or the given event ids) back to waiting. Returns the ids moved. */
export async function retryFailedJobs(cfg: PipelineConfig, sink: ComponentConfig, ids?: string[]): Promise<string[]> {
  return (
    (await withQueue(cfg, sink, async (q) => {
      const jobs = ids?.length ? (await Promise.all(ids.map((id) => q.getJob(id)))).filter((j) => j !== undefined) : await q.getFailed(0, -1);
      const moved: string[] = [];
      for (const j of jobs) {
        if ((await j.getState()) !== 'failed') continue;
        await j.retry('failed');
        moved.push(String(j.id));
      }
      return moved;
    })) ?? []
  );
}

/** The event a FAILED entry was dead-lettered with (for a new dead letter if SAP refuses again). */
async function eventOf(store: StateStore, id: string): Promise<{ event: InventoryEvent; deadLetterId?: number }> {
  let afterId = 0;
  for (;;) {
    const page = await store.listDeadLetters({ afterId, limit: 500 });
    if (page.length === 0) break;
    afterId = page[page.length - 1].id;
    const d = page.find((x) => x.stage === 'sink' && x.meta?.eventId === id && typeof x.payload === 'string');
    if (d) return { event: JSON.parse(d.payload as string) as InventoryEvent, deadLetterId: d.id };
  }
  return { event: { eventId: id, source: { recordRef: `outbox:${id}` } } as InventoryEvent };
}

/** Re-posts FAILED entries through the sink's transport; a success marks their dead letter replayed. */
export async function repostFailed(cfg: PipelineConfig, sink: ComponentConfig, store: StateStore, ids: string[]): Promise<Array<{ id: string; outcome: Outcome | { kind: 'not-failed'; state?: OutboxState } }>> {
  const o = sink.options as unknown as SapPostingOptions;
  const log = rootLogger().child({ pipeline: cfg.name, sink: sink.name });
  const transport = await createTransport(o, cfg.baseDir);
  const scope = outboxScope(sink.name);
  const outbox = new PostingOutbox({
    store,
    scope,
    transport,
    settleMs: 0, // SAP refused these: nothing is in flight
    sink: sink.name,
    log,
    deadLetter: (e) => store.addDeadLetters([e]),
  });
  const out: Array<{ id: string; outcome: Outcome | { kind: 'not-failed'; state?: OutboxState } }> = [];
  try {
    for (const id of ids) {
      const moved = await store.updateOutbox(scope, [{ id, state: 'PENDING', from: ['FAILED'] }]);
      const [entry] = await store.listOutbox(scope, { ids: [id] });
      if (moved.length === 0 || !entry) {
        out.push({ id, outcome: { kind: 'not-failed', state: entry?.state } });
        continue;
      }
      const { event, deadLetterId } = await eventOf(store, id);
      const outcome = await outbox.process(entry, event);
      if (outcome.kind === 'posted' && deadLetterId !== undefined) await store.markReplayed([deadLetterId]);
      out.push({ id, outcome });
    }
  } finally {
    await transport.close();
  }
  return out;
}

function parseStates(s: string | undefined): OutboxState[] {
  const list = (s ?? 'PENDING,UNCERTAIN,FAILED').split(',').map((x) => x.trim().toUpperCase());
  for (const x of list) if (!OUTBOX_STATES.includes(x as OutboxState)) throw new Error(`unknown state ${x} (${OUTBOX_STATES.join(', ')})`);
  return list as OutboxState[];
}

function line(e: OutboxEntry): string {
  const r = e.result as Record<string, string> | undefined;
  const doc = r?.materialDocument ? ` doc ${r.materialDocument}/${r.year}` : r?.file ? ` file ${r.file}` : '';
  return `${e.id}  ${e.state.padEnd(9)} key ${e.key || '-'}  attempts ${e.attempts}  ${e.updatedAt}${doc}${e.error ? `  ${e.error}` : ''}`;
}

export async function runPostings(file: string, opts: PostingsOptions): Promise<void> {
  const cfg = loadPipeline(file, builtinRegistry());
  const store = openSqliteStore(stateDirOf(cfg, opts.stateDir), cfg.name);
  const w = (s: string) => process.stdout.write(`${s}\n`);
  try {
    for (const sink of sinksOf(cfg, opts.sink)) {
      const scope = outboxScope(sink.name);
      if (opts.retry) {
        const moved = await retryFailedJobs(cfg, sink, opts.id);
        if (opts.json) w(JSON.stringify({ sink: sink.name, retried: moved }));
        else w(`${sink.name}: ${moved.length} failed job(s) back in the queue${moved.length ? `: ${moved.join(', ')}` : ''}`);
        continue;
      }
      if (opts.repost) {
        if (!opts.id?.length) throw new Error('--repost needs --id <eventId...> (FAILED entries to post again)');
        const results = await repostFailed(cfg, sink, store, opts.id);
        for (const r of results) w(opts.json ? JSON.stringify({ sink: sink.name, ...r }) : `${r.id}: ${r.outcome.kind}${'error' in r.outcome ? ` (${r.outcome.error})` : ''}`);
        if (results.some((r) => r.outcome.kind !== 'posted')) process.exitCode = 1;
        continue;
      }
      const counts = await store.countOutbox(scope);
      const states = parseStates(opts.state);
      const entries = await store.listOutbox(scope, { states, limit: opts.limit ?? 100 });
      const jobs = await failedJobs(cfg, sink, opts.limit ?? 100);
      if (opts.json) {
        w(JSON.stringify({ sink: sink.name, counts, entries, failedJobs: jobs }));
        continue;
      }
      w(`${sink.name}: ${OUTBOX_STATES.map((s) => `${counts[s]} ${s}`).join(', ')}`);
      for (const e of entries) w(`  ${line(e)}`);
      if (jobs) {
        w(`  posting queue: ${jobs.length} failed job(s)${jobs.length ? ' (replay: --retry)' : ''}`);
        for (const j of jobs) w(`  job ${j.id}  attempts ${j.attemptsMade}  ${j.failedReason}`);
      }
    }
  } finally {
    await store.close();
  }
}
