/** Shared setup for the sap-posting tests: canonical events, a sink with its state store, options with defaults. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sapPostingSink, type SapPostingOptions } from '../../../connectors/sap-posting/index.ts';
import type { SapPostingSink } from '../../../connectors/sap-posting/sink.ts';
import { ajv } from '../../../runtime/config/pipeline.ts';
import { EVENT_SCHEMA_VERSION, type EventType, type InventoryEvent } from '../../../runtime/contracts/event.ts';
import { EventIdNamespace } from '../../../runtime/contracts/event-id.ts';
import type { DeadLetterInput, Logger } from '../../../runtime/contracts/spi.ts';
import { openSqliteStore, type SqliteStateStore } from '../../../runtime/state/sqlite-store.ts';

export const silentLog: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLog;
  },
};

const ns = new EventIdNamespace('sap-posting-test');

export function event(n: number, over: Partial<InventoryEvent> = {}): InventoryEvent {
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    eventId: ns.id('rec', n),
    eventType: 'SALE' as EventType,
    sku: String(104700 + (n % 50)),
    locationId: '1010/0001',
    quantity: '-2.000',
    unitOfMeasure: 'EA',
    occurredAt: '2026-11-21T10:00:00.000Z',
    source: { system: 'store-pos', connector: 'file-drop', recordRef: `sales.csv:${n + 2}`, receivedAt: '2026-11-21T10:00:01.000Z' },
    references: { documentId: `T-${n}` },
    ...over,
  };
}

/** Options as the pipeline loader hands them over: validated, defaults filled in. */
export function options(o: Record<string, unknown>): SapPostingOptions {
  const v = ajv.compile({ type: 'object', additionalProperties: false, ...sapPostingSink.options });
  const copy = structuredClone(o);
  if (!v(copy)) throw new Error(JSON.stringify(v.errors));
  return copy as unknown as SapPostingOptions;
}

export interface Harness {
  sink: SapPostingSink;
  state: SqliteStateStore;
  deadLetters: DeadLetterInput[];
  dir: string;
  reopen(o?: Record<string, unknown>): Promise<Harness>;
}

/** A sink named `sap` on a fresh (or the given) state directory. */
export async function makeSink(o: Record<string, unknown>, dir = mkdtempSync(join(tmpdir(), 'sb-sap-'))): Promise<Harness> {
  const state = openSqliteStore(join(dir, 'state'), 'p');
  const deadLetters: DeadLetterInput[] = [];
  const log = { ...silentLog, bindings: () => ({ sink: 'sap' }) } as Logger;
  const sink = (await sapPostingSink.create(options(o), {
    pipeline: 'p',
    baseDir: dir,
    stateDir: join(dir, 'state'),
    log,
    sink: {
      pipeline: 'p',
      state,
      log,
      async deadLetter(e) {
        deadLetters.push(e);
        await state.addDeadLetters([e]);
      },
    },
  })) as SapPostingSink;
  const h: Harness = {
    sink,
    state,
    deadLetters,
    dir,
    async reopen(next = o) {
      await sink.close();
      await state.close();
      return makeSink(next, dir);
    },
  };
  return h;
}

export const SCOPE = 'sap-posting:sap';
