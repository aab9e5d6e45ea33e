/** Wiring for the ibm-mq source tests: the MQI test double, the real engine and SQLite state, controllable sinks. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIbmMqSource, type IbmMqOptions } from '../../../connectors/ibm-mq/index.ts';
import type { MqiModule } from '../../../connectors/ibm-mq/mqi.ts';
import { DELIVERY_DEFAULTS } from '../../../runtime/config/pipeline-schema.ts';
import type { InventoryEvent } from '../../../runtime/contracts/event.ts';
import type { CompiledMapping } from '../../../runtime/contracts/mapping.ts';
import type { BoundFormat, DeadLetterInput, Sink, Source, SourceContext, StateStore } from '../../../runtime/contracts/spi.ts';
import { Engine, type RunSummary } from '../../../runtime/engine/engine.ts';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';
import { silentLog, testMapping } from '../../support/fakes.ts';
import type { QueueManagerDouble } from '../../doubles/mqi-double.ts';

export const stores: StateStore[] = [];

export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A sink whose writes are acknowledged only when the test says so (or at once when `auto`). */
export class GatedSink implements Sink {
  readonly events: InventoryEvent[] = [];
  readonly held: Array<{ events: readonly InventoryEvent[]; resolve: () => void; reject: (e: Error) => void }> = [];
  auto = false;
  failWith?: (events: readonly InventoryEvent[]) => Error | undefined;
  write(events: readonly InventoryEvent[]): Promise<void> {
    const err = this.failWith?.(events);
    if (err) return Promise.reject(err);
    if (this.auto) {
      this.events.push(...events);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.held.push({ events, resolve, reject }));
  }
  release(): void {
    for (const h of this.held.splice(0)) {
      this.events.push(...h.events);
      h.resolve();
    }
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface Rig {
  engine: Engine;
  source: Source;
  state: StateStore;
  ctx: SourceContext;
  controller: AbortController;
  order: string[];
  run: Promise<RunSummary>;
  deadLetters: DeadLetterInput[];
}

export interface RigOptions {
  once?: boolean;
  batchSize?: number;
  mapping?: CompiledMapping;
  sink?: Sink;
  source?: Partial<IbmMqOptions>;
  state?: StateStore;
  maxPendingBatches?: number;
}

/** Start an engine reading queue IN of the double. `order` logs dead-letter writes and MQCMIT/MQBACK calls. */
export async function rig(qm: QueueManagerDouble, o: RigOptions = {}): Promise<Rig> {
  const state = o.state ?? openSqliteStore(mkdtempSync(join(tmpdir(), 'sb-mq-')), 'mq');
  if (!o.state) stores.push(state);
  const order: string[] = [];
  const deadLetters: DeadLetterInput[] = [];
  const add = state.addDeadLetters.bind(state);
  state.addDeadLetters = async (entries) => {
    await add(entries);
    for (const e of entries) order.push(`dlq:${e.ref}`);
    deadLetters.push(...entries);
  };
  const mod = qm.module as unknown as MqiModule;
  const wrapped: MqiModule = {
    ...mod,
    Cmit: (h, cb) => {
      order.push('MQCMIT');
      return mod.Cmit(h, cb);
    },
    Back: (h, cb) => {
      order.push('MQBACK');
      return mod.Back(h, cb);
    },
  };
  const mapping = o.mapping ?? testMapping();
  const controller = new AbortController();
  const ctx: SourceContext = {
    pipeline: 'mq',
    signal: controller.signal,
    once: o.once ?? false,
    batchSize: o.batchSize ?? 100,
    format: mapping.format as BoundFormat,
    state,
    log: silentLog,
    deadLetter: (e) => state.addDeadLetters([e]),
    unitCounts: () => undefined,
  };
  const source = await createIbmMqSource(
    {
      transport: 'mqi',
      queueManager: 'QM1',
      queue: 'IN',
      waitInterval: 5,
      bufferBytes: 1024,
      maxMessageBytes: 1 << 20,
      convert: 'auto',
      backout: {},
      reconnect: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 0 },
      ...o.source,
    },
    ctx,
    { mqi: wrapped },
  );
  const sink = o.sink ?? Object.assign(new GatedSink(), { auto: true });
  const engine = new Engine({
    pipeline: 'mq',
    connector: 'ibm-mq',
    source,
    mapping,
    processors: [],
    sinks: [{ name: 'out', sink }],
    state,
    delivery: {
      ...DELIVERY_DEFAULTS,
      batchSize: o.batchSize ?? 100,
      maxPendingBatches: o.maxPendingBatches ?? DELIVERY_DEFAULTS.maxPendingBatches,
      shutdownTimeoutMs: 2000,
      retry: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 0 },
    },
    log: silentLog,
    stopController: controller,
  });
  const run = engine.run().finally(() => source.close());
  return { engine, source, state, ctx, controller, order, run, deadLetters };
}

/** JSON payload for the test mapping (fakes.ts): {sku, qty}. */
export function json(sku: string, qty = '1'): string {
  return JSON.stringify({ sku, qty });
}
