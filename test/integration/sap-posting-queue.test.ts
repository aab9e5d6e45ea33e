/**
 * The BullMQ posting queue on a real redis-server: jobs keyed by event id, rate limit, retries with backoff for
 * technical errors, failed jobs visible and replayable with `stockbridge dlq postings`, business rejects not retried.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectionOf } from '../../connectors/sap-posting/queue.ts';
import { TransientError } from '../../runtime/contracts/spi.ts';
import { ODataServerDouble } from '../doubles/odata-server-double.ts';
import { redisUrl, uniqueName } from '../harness/services.ts';
import { cli } from '../support/cli.ts';
import { event, type Harness, makeSink, SCOPE } from '../unit/sap-posting/helpers.ts';

const doubles: ODataServerDouble[] = [];
const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.sink.close().catch(() => undefined);
  for (const d of doubles.splice(0)) await d.stop().catch(() => undefined);
});
const queues: Queue[] = [];
afterAll(async () => {
  for (const q of queues) {
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
});

async function setup(queue: Record<string, unknown> = {}, doubleOpts: ConstructorParameters<typeof ODataServerDouble>[0] = {}) {
  const sap = await new ODataServerDouble({ hangMs: 3000, ...doubleOpts }).start();
  doubles.push(sap);
  const name = uniqueName('sap-posting');
  const q = new Queue(name, { connection: connectionOf(redisUrl()) });
  queues.push(q);
  const h = await makeSink({
    transport: 'odata',
    odata: { url: sap.url, timeoutMs: 500 },
    settleMs: 50,
    queue: { redis: redisUrl(), name, attempts: 3, backoffMs: 100, concurrency: 4, ...queue },
  });
  harnesses.push(h);
  return { sap, h, q, name };
}

describe('sap-posting through the BullMQ posting queue', () => {
  it('posts every event once, at the configured rate; a re-delivery adds no job', async () => {
    const { sap, h, q } = await setup({ rateLimit: { max: 10, durationMs: 500 } });
    const events = Array.from({ length: 30 }, (_, i) => event(i));
    const t0 = Date.now();
    await h.sink.write(events, {});
    const ms = Date.now() - t0;
    expect(sap.documents).toHaveLength(30);
    expect(sap.duplicates()).toEqual([]);
    // 30 postings at 10 per 500 ms: at least two full windows
    expect(ms).toBeGreaterThanOrEqual(1000);
    expect(await q.getJobCounts('completed')).toMatchObject({ completed: 30 });
    const job = await q.getJob(events[0].eventId);
    expect(job?.returnvalue).toEqual({ kind: 'posted' });
    await h.sink.write(events, {});
    expect(await q.getJobCounts('completed', 'waiting')).toMatchObject({ completed: 30, waiting: 0 });
    expect(sap.requests.post).toBe(30);
  });

  it('technical errors are retried by the queue with backoff; uncertain ones are looked up first', async () => {
    const { sap, h, q } = await setup();
    sap.script.push('http-503', 'timeout-after-post');
    await h.sink.write([event(1)], {});
    expect(sap.documents).toHaveLength(1);
    // the 503 certainly posted nothing (no lookup); the lost answer is looked up before the third attempt
    expect(sap.requests.lookup).toBe(1);
    const job = await q.getJob(event(1).eventId);
    expect(job?.attemptsMade).toBe(3);
  });

  it('a job out of attempts stays failed and blocks the batch; `stockbridge dlq postings --retry` replays it', async () => {
    const { sap, h, q } = await setup({ attempts: 2 });
    const port = Number(new URL(sap.url).port);
    await sap.stop();
    const err = await h.sink.write([event(7), event(8)], {}).catch((x: Error) => x);
    expect(err).toBeInstanceOf(TransientError);
    expect(String(err)).toMatch(/failed after 2 attempt\(s\).*dlq postings/);
    expect(await q.getJobCounts('failed')).toMatchObject({ failed: 2 });
    // a retry by the engine does not re-run a failed job by itself
    await expect(h.sink.write([event(7)], {})).rejects.toBeInstanceOf(TransientError);

    const back = await new ODataServerDouble({ port }).start();
    doubles.push(back);
    const pipeline = join(h.dir, 'p.yaml');
    writeFileSync(
      pipeline,
      `pipeline: p\nsource:\n  type: generator\n  count: 1\nmapping: identity\nsinks:\n  - type: sap-posting\n    name: sap\n    transport: odata\n    odata: { url: '${back.url}' }\n    queue: { redis: '${redisUrl()}', name: ${q.name} }\n`,
    );
    const list = cli(['dlq', 'postings', pipeline, '--state-dir', join(h.dir, 'state')]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('sap: 2 PENDING, 0 POSTED, 0 FAILED, 0 UNCERTAIN');
    expect(list.stdout).toContain('posting queue: 2 failed job(s) (replay: --retry)');
    expect(list.stdout).toContain(`job ${event(7).eventId}  attempts 2`);
    const retry = cli(['dlq', 'postings', pipeline, '--state-dir', join(h.dir, 'state'), '--retry', '--json']);
    expect(retry.code, retry.stderr).toBe(0);
    expect(JSON.parse(retry.stdout).retried.sort()).toEqual([event(7).eventId, event(8).eventId].sort());
    await h.sink.write([event(7), event(8)], {});
    expect(back.documents).toHaveLength(2);
    expect(await h.state.countOutbox(SCOPE)).toMatchObject({ POSTED: 2 });
  });

  it('business rejects complete their job (dead-lettered, not retried); --repost posts them once SAP is fixed', async () => {
    const unknown = ['000000000000104703'];
    const { sap, h, q } = await setup({}, { unknownMaterials: unknown });
    await h.sink.write([event(3), event(4)], {});
    expect(sap.documents).toHaveLength(1);
    expect(h.deadLetters[0].reason).toContain('M3/305');
    expect((await q.getJob(event(3).eventId))?.returnvalue).toEqual({ kind: 'failed' });
    expect(sap.requests.post).toBe(2);

    unknown.length = 0; // master data fixed in SAP
    const pipeline = join(mkdtempSync(join(tmpdir(), 'sb-sapq-')), 'p.yaml');
    writeFileSync(pipeline, `pipeline: p\nsource:\n  type: generator\n  count: 1\nmapping: identity\nsinks:\n  - type: sap-posting\n    name: sap\n    transport: odata\n    odata: { url: '${sap.url}' }\n    units: {}\n`);
    // the CLI posts synchronously to the double in this process: run it asynchronously
    const { cliSpawn } = await import('../support/cli.ts');
    const child = cliSpawn(['dlq', 'postings', pipeline, '--state-dir', join(h.dir, 'state'), '--repost', '--id', event(3).eventId]);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(out).toContain(`${event(3).eventId}: posted`);
    expect(sap.documents).toHaveLength(2);
    const dls = await h.state.listDeadLetters({ includeReplayed: true });
    expect(dls[0].replayedAt).toBeTruthy();
  });
});
