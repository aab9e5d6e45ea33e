/**
 * The ibm-mq source's AMQP 1.0 transport against a real broker: RabbitMQ (Debian's rabbitmq-server) with its AMQP
 * 1.0 plugin, started here by test/harness/rabbitmq.sh (or reused when AMQP_URL is set, with RABBITMQ_INSTANCE naming
 * the harness instance for rabbitmqctl). Records are binary copybook records, as a mainframe would send them.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import rhea, { type Connection } from 'rhea';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIbmMqSource } from '../../connectors/ibm-mq/index.ts';
import { DELIVERY_DEFAULTS } from '../../runtime/config/pipeline-schema.ts';
import { MAPPED, type CompiledMapping } from '../../runtime/contracts/mapping.ts';
import type { SourceContext, SourceRecord, StateStore } from '../../runtime/contracts/spi.ts';
import { Engine, type RunSummary } from '../../runtime/engine/engine.ts';
import { CopybookFormat } from '../../runtime/formats/copybook/index.ts';
import { openSqliteStore } from '../../runtime/state/sqlite-store.ts';
import { silentLog } from '../support/fakes.ts';
import { HARNESS_DIR, RUN_DIR, uniqueName } from '../harness/services.ts';
import { packed, pic } from '../unit/copybook/fixtures.ts';
import { GatedSink, until } from '../unit/ibm-mq/harness.ts';

const INSTANCE = process.env.RABBITMQ_INSTANCE ?? `vitest-${process.pid}-rabbitmq`;
let url = process.env.AMQP_URL ?? '';
let started = false;

function script(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('bash', [join(HARNESS_DIR, 'rabbitmq.sh'), ...args], { timeout: 240_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`rabbitmq.sh ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Brokers left behind by a vitest that was killed before afterAll: stop them. */
async function stopStale(): Promise<void> {
  if (!existsSync(RUN_DIR)) return;
  for (const dir of readdirSync(RUN_DIR)) {
    const m = /^vitest-(\d+)-rabbitmq$/.exec(dir);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    if (existsSync(join(RUN_DIR, dir, 'rabbitmq.pid'))) await script('stop', dir).catch(() => undefined);
  }
}

beforeAll(async () => {
  if (!url) {
    started = true;
    await stopStale();
    process.once('exit', () => {
      // Safety net when afterAll does not run: kill the broker synchronously.
      try {
        const pid = Number(readFileSync(join(RUN_DIR, INSTANCE, 'rabbitmq.pid'), 'utf8'));
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // already stopped
      }
    });
    await script('start', INSTANCE);
    url = readFileSync(join(RUN_DIR, INSTANCE, 'url'), 'utf8').trim();
  }
}, 240_000);

afterAll(async () => {
  if (started) await script('stop', INSTANCE).catch(() => undefined);
}, 120_000);

const stores: StateStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
});

const COPYBOOK = '01 SALE. 05 SKU PIC X(8). 05 QTY PIC S9(5) COMP-3. 05 PRICE PIC S9(7)V99 COMP-3.';
const record = (sku: string, qty: number, cents: number) => Buffer.concat([pic(sku, 8), packed(qty, 5), packed(cents, 9)]);

/** Messages currently on the queue: [ready, unacknowledged] (rabbitmqctl). */
async function queueCounts(queue: string): Promise<[number, number]> {
  const out = await script('ctl', INSTANCE, 'list_queues', 'name', 'messages_ready', 'messages_unacknowledged');
  for (const line of out.split('\n')) {
    const [n, r, u] = line.trim().split(/\s+/);
    if (n === queue) return [Number(r), Number(u)];
  }
  return [0, 0];
}

function connect(): Promise<Connection> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const c = rhea.create_container().connect({ host: u.hostname, port: Number(u.port), username: 'guest', password: 'guest', reconnect: false } as never);
    c.once('connection_open', () => resolve(c));
    c.once('disconnected', (ctx) => reject(ctx.error ?? new Error('disconnected')));
  });
}

/** Publish binary records as a mainframe bridge would (data sections), waiting for the broker's acceptance. */
async function publish(address: string, bodies: Buffer[]): Promise<void> {
  const c = await connect();
  await new Promise<void>((resolve, reject) => {
    const s = c.open_sender({ target: { address } });
    let acked = 0;
    s.once('sendable', () => {
      for (let i = 0; i < bodies.length; i++)
        s.send({ message_id: `${address}-${i}`, creation_time: new Date(Date.UTC(2024, 0, 18, 13, 45, 30)), body: rhea.message.data_section(bodies[i]) });
    });
    s.on('accepted', () => {
      if (++acked === bodies.length) resolve();
    });
    s.on('rejected', () => reject(new Error('rejected')));
  });
  c.close();
}

interface Run {
  run: Promise<RunSummary>;
  engine: Engine;
  controller: AbortController;
  seen: Array<{ value: unknown; meta: unknown }>;
}

async function start(address: string, sink: GatedSink, o: { once?: boolean; batchSize?: number } = {}): Promise<Run> {
  const state = openSqliteStore(mkdtempSync(join(tmpdir(), 'sb-amqp-')), 'amqp');
  stores.push(state);
  const seen: Run['seen'] = [];
  const format = new CopybookFormat({ copybookText: COPYBOOK, sourceFormat: 'free' }, '/');
  const ids = new Map<string, number>();
  const mapping: CompiledMapping = {
    id: 't@1',
    name: 't',
    version: '1',
    format,
    map(rec: SourceRecord, value, out, ctx) {
      seen.push({ value, meta: rec.meta });
      const v = value as { sku: string; qty: string };
      const n = (ids.get(rec.ref) ?? 0) + 1;
      ids.set(rec.ref, n);
      out.push({
        schemaVersion: 1,
        eventId: rec.ref,
        eventType: 'SALE',
        sku: v.sku,
        locationId: 'S1',
        quantity: v.qty,
        unitOfMeasure: 'EA',
        occurredAt: '2024-01-18T13:45:30.000Z',
        source: { system: 'mf', connector: ctx.connector, recordRef: rec.ref, receivedAt: ctx.receivedAt },
      } as never);
      return MAPPED;
    },
  };
  const controller = new AbortController();
  const ctx: SourceContext = {
    pipeline: 'amqp',
    signal: controller.signal,
    once: o.once ?? false,
    batchSize: o.batchSize ?? 10,
    format,
    state,
    log: silentLog,
    deadLetter: (e) => state.addDeadLetters([e]),
    unitCounts: () => undefined,
  };
  const source = await createIbmMqSource(
    {
      transport: 'amqp',
      amqp: { url, address },
      waitInterval: o.once ? 1500 : 100,
      bufferBytes: 65536,
      maxMessageBytes: 1 << 20,
      convert: 'auto',
      backout: {},
      reconnect: { initialDelayMs: 100, maxDelayMs: 500, maxAttempts: 0 },
    },
    ctx,
  );
  const engine = new Engine({
    pipeline: 'amqp',
    connector: 'ibm-mq',
    source,
    mapping,
    processors: [],
    sinks: [{ name: 'out', sink }],
    state,
    delivery: { ...DELIVERY_DEFAULTS, batchSize: o.batchSize ?? 10, shutdownTimeoutMs: 1500, retry: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 0 } },
    log: silentLog,
    stopController: controller,
  });
  const run = engine.run().finally(() => source.close());
  return { run, engine, controller, seen };
}

describe('ibm-mq source, AMQP 1.0 transport, against RabbitMQ', () => {
  it('accepts deliveries only after the sink acknowledged; binary copybook payloads and metadata arrive intact', async () => {
    const q = `/queue/${uniqueName('sb-accept')}`;
    const name = q.slice('/queue/'.length);
    await publish(q, [record('SKU00001', -2, 1999), record('SKU00002', 5, 250), record('SKU00003', 1, 100)]);
    const sink = new GatedSink();
    const r = await start(q, sink);
    await until(() => sink.held.length === 1, 20_000, 'the write');
    expect(await queueCounts(name)).toEqual([0, 3]); // delivered, not settled
    sink.release();
    await until(() => sink.events.length === 3, 5000);
    let counts: [number, number] = [1, 1];
    for (let i = 0; i < 50 && (counts[0] || counts[1]); i++) {
      counts = await queueCounts(name);
      if (counts[0] || counts[1]) await new Promise((res) => setTimeout(res, 100));
    }
    expect(counts).toEqual([0, 0]);
    r.engine.stop();
    expect((await r.run).status).toBe('stopped');
    expect(r.seen.map((s) => s.value)).toEqual([
      { sku: 'SKU00001', qty: '-2', price: '19.99' },
      { sku: 'SKU00002', qty: '5', price: '2.50' },
      { sku: 'SKU00003', qty: '1', price: '1.00' },
    ]);
    expect(r.seen[0].meta).toMatchObject({ MsgId: `${q}-0`, putTimestamp: '2024-01-18T13:45:30.000Z', transport: 'amqp', queue: q });
  });

  it('a failing pipeline hands the deliveries back (released) and the next run gets them again', async () => {
    const q = `/queue/${uniqueName('sb-redeliver')}`;
    const name = q.slice('/queue/'.length);
    await publish(q, [record('A', 1, 1), record('B', 2, 2)]);
    const failing = new GatedSink();
    failing.failWith = () => new Error('warehouse system down for good');
    const first = await start(q, failing);
    const s1 = await first.run;
    expect(s1.status).toBe('failed');
    let counts = await queueCounts(name);
    for (let i = 0; i < 50 && counts[0] !== 2; i++) {
      await new Promise((res) => setTimeout(res, 100));
      counts = await queueCounts(name);
    }
    expect(counts).toEqual([2, 0]);
    const ok = new GatedSink();
    ok.auto = true;
    const second = await start(q, ok, { once: true });
    expect((await second.run).status).toBe('ok');
    expect(ok.events.map((e) => e.sku)).toEqual(['A', 'B']);
    expect((second.seen[0].meta as { BackoutCount: number }).BackoutCount).toBeGreaterThanOrEqual(0);
    expect(await queueCounts(name)).toEqual([0, 0]);
  });

  it('stopped before the sink acknowledged (no settlement): the broker redelivers everything to the next run', async () => {
    const q = `/queue/${uniqueName('sb-crash')}`;
    const name = q.slice('/queue/'.length);
    await publish(q, [record('K1', 1, 1), record('K2', 1, 1), record('K3', 1, 1)]);
    const stuck = new GatedSink();
    const first = await start(q, stuck);
    await until(() => stuck.held.length === 1, 20_000);
    first.engine.stop(); // the sink never acknowledges: shutdown times out and the connection closes unsettled
    const s1 = await first.run;
    expect(s1.status).toBe('stopped');
    const ok = new GatedSink();
    ok.auto = true;
    const second = await start(q, ok, { once: true });
    await second.run;
    expect(ok.events.map((e) => e.sku).sort()).toEqual(['K1', 'K2', 'K3']);
    expect(await queueCounts(name)).toEqual([0, 0]);
  });

  it('reconnects when the broker closes the connection, and loses nothing', async () => {
    const q = `/queue/${uniqueName('sb-reconnect')}`;
    const name = q.slice('/queue/'.length);
    await publish(q, [record('R1', 1, 1)]);
    const sink = new GatedSink();
    sink.auto = true;
    const r = await start(q, sink, { batchSize: 5 });
    await until(() => sink.events.length === 1, 20_000);
    await script('ctl', INSTANCE, 'close_all_connections', 'test: forced close');
    await publish(q, [record('R2', 1, 1), record('R3', 1, 1)]);
    await until(() => sink.events.length >= 3, 30_000, 'messages after the reconnect');
    r.engine.stop();
    await r.run;
    expect(new Set(sink.events.map((e) => e.sku))).toEqual(new Set(['R1', 'R2', 'R3']));
    expect(await queueCounts(name)).toEqual([0, 0]);
  });
});
