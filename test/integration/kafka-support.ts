/** Helpers of the Kafka integration tests: pipelines run in-process against the harness broker. */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_CONNECTORS } from '../../connectors/index.ts';
import { loadPipeline } from '../../runtime/config/pipeline.ts';
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import type { ConnectorSpec, Sink, SinkSpec } from '../../runtime/contracts/spi.ts';
import type { RunSummary } from '../../runtime/engine/engine.ts';
import { preparePipeline, type PreparedPipeline } from '../../runtime/engine/pipeline-runner.ts';
import { ConnectorRegistry } from '../../runtime/registry.ts';
import { silentLog } from '../support/fakes.ts';

export function tmp(prefix = 'sb-kafka-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A sink for tests: acknowledges the first `ackBatches` writes, then fails (non-transient) every later one. */
export const testSinks = {
  acked: [] as InventoryEvent[][],
  reset() {
    this.acked = [];
  },
};

const failingSink: SinkSpec<{ ackBatches: number; delayMs: number }> = {
  kind: 'sink',
  name: 'test-fail-after',
  summary: 'test',
  delivery: 'test',
  options: { properties: { ackBatches: { type: 'integer', default: 0 }, delayMs: { type: 'integer', default: 0 } } },
  create(o) {
    let n = 0;
    const sink: Sink = {
      async write(events) {
        n++;
        if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
        if (n > o.ackBatches) throw new Error(`test sink refuses batch ${n}`);
        testSinks.acked.push([...events]);
      },
      async flush() {},
      async close() {},
    };
    return sink;
  },
};

export function registry(): ConnectorRegistry {
  return new ConnectorRegistry([...(BUILTIN_CONNECTORS as ConnectorSpec[]), failingSink]);
}

export async function prepare(dir: string, name: string, yaml: string, once = true): Promise<PreparedPipeline> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  const cfg = loadPipeline(file, registry());
  return preparePipeline(cfg, { once, stateDir: join(dir, 'state'), log: silentLog });
}

export async function run(dir: string, name: string, yaml: string): Promise<RunSummary> {
  const p = await prepare(dir, name, yaml);
  try {
    return await p.engine.run();
  } finally {
    await p.close();
  }
}

export function readJsonl(file: string): InventoryEvent[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8').trim();
  return text ? text.split('\n').map((l) => JSON.parse(l) as InventoryEvent) : [];
}

/** Avro cannot tell a null map from an empty one, nor an absent optional from null: compare on that footing. */
export function normalize(e: InventoryEvent): InventoryEvent {
  const attrs = e.attributes && Object.keys(e.attributes).length ? e.attributes : null;
  const refs = e.references ? Object.fromEntries(Object.entries(e.references).filter(([, v]) => v != null)) : null;
  return JSON.parse(
    JSON.stringify({ ...e, attributes: attrs, references: refs && Object.keys(refs).length ? refs : null }, (_k, v) =>
      v === undefined ? null : v,
    ),
  );
}

export function byId(events: InventoryEvent[]): Map<string, InventoryEvent> {
  return new Map(events.map((e) => [e.eventId, e]));
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
