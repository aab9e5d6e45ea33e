/**
 * A Kafka-sourced pipeline in a worker pool: two `stockbridge worker` processes (the real CLI) run the same pipeline
 * file; the Kafka consumer group spreads the topic's partitions over them, each delivers its share, nothing is lost,
 * and `stockbridge status` shows both as members of the pool.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTopic, kafkaBrokers, redisUrl, uniqueName } from '../harness/services.ts';
import { cli, cliSpawn } from '../support/cli.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const ids = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { eventId: string }).eventId)
    : [];

async function waitFor(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('worker pool on a Kafka source (consumer group)', () => {
  it('two workers split the partitions of one group and deliver every event once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-scaling-kafka-'));
    const topic = await createTopic(uniqueName('pool'), 4);
    const brokers = JSON.stringify(kafkaBrokers());
    const COUNT = 2000;
    writeFileSync(
      join(dir, 'produce.yaml'),
      `pipeline: produce\nsource: {type: generator, count: ${COUNT}, seed: 9}\nmapping: identity\nsinks:\n  - {type: kafka, brokers: ${brokers}, topic: ${topic}, key: sku, format: json}\n  - {type: jsonl, path: produced.jsonl, fsync: false}\n`,
    );
    const pipeline = uniqueName('kpool').replace(/[^A-Za-z0-9_.-]/g, '-');
    writeFileSync(
      join(dir, 'pool.yaml'),
      `pipeline: ${pipeline}
source:
  type: kafka
  brokers: ${brokers}
  topic: ${topic}
  startFrom: earliest
  sessionTimeoutMs: 10000
  heartbeatIntervalMs: 500
  rebalanceTimeoutMs: 10000
mapping: identity
sinks:
  - type: jsonl
    path: \${env:SB_OUT}
    fsync: false
delivery: {batchSize: 50}
`,
    );
    const start = (n: number) => {
      const c = cliSpawn(['worker', join(dir, 'pool.yaml'), '--redis', redisUrl(), '--heartbeat', '500'], { env: { SB_OUT: join(dir, `w${n}.jsonl`) } });
      children.push(c);
      return c;
    };
    const workers = [start(1), start(2)];
    // both members up and in the group before the events arrive, so the partitions are split from the start
    await waitFor(
      '2 members',
      () => (JSON.parse(cli(['status', '--redis', redisUrl(), '--json']).stdout).workers as Array<{ pipeline: string; alive: boolean }>).filter((w) => w.pipeline === pipeline && w.alive).length === 2,
      60_000,
    );
    await new Promise((r) => setTimeout(r, 5000));
    const p = cli(['run', join(dir, 'produce.yaml'), '--once', '--state-dir', join(dir, 'state')]);
    expect(p.code, p.stderr).toBe(0);
    const produced = new Set(ids(join(dir, 'produced.jsonl')));
    expect(produced.size).toBe(COUNT);
    await waitFor('every event delivered', () => new Set([...ids(join(dir, 'w1.jsonl')), ...ids(join(dir, 'w2.jsonl'))]).size >= COUNT, 90_000);

    const status = JSON.parse(cli(['status', '--redis', redisUrl(), '--json']).stdout) as {
      workers: Array<{ pipeline: string; mode: string; role: string }>;
    };
    expect(status.workers.filter((w) => w.pipeline === pipeline).map((w) => [w.mode, w.role])).toEqual([
      ['shared', 'member'],
      ['shared', 'member'],
    ]);
    for (const c of workers) c.kill('SIGTERM');
    const exits = await Promise.all(workers.map((c) => new Promise<number | null>((r) => c.once('exit', (code) => r(code)))));
    expect(exits).toEqual([0, 0]);
    const w1 = ids(join(dir, 'w1.jsonl'));
    const w2 = ids(join(dir, 'w2.jsonl'));
    expect(new Set([...w1, ...w2])).toEqual(produced);
    // the group split the partitions: both delivered a share, and (no crash, no rebalance mid-run) nothing twice
    expect(w1.length).toBeGreaterThan(0);
    expect(w2.length).toBeGreaterThan(0);
    expect(w1.length + w2.length).toBe(COUNT);
  });
});
