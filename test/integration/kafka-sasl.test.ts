/**
 * SASL against a real broker with a SASL_PLAINTEXT listener (test/harness/kafka-sasl.sh): SCRAM-SHA-256,
 * SCRAM-SHA-512 and PLAIN with good credentials produce and consume; a wrong password is a clear authentication
 * error at start, with both clients. The password comes from `${env:…}` as in production pipeline files.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HARNESS_DIR, RUN_DIR, uniqueName } from '../harness/services.ts';
import { readJsonl, run, tmp } from './kafka-support.ts';

const instance = `sasl-${process.pid}`;
let sasl = '';
let plain = '';

function script(args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('bash', [join(HARNESS_DIR, 'kafka-sasl.sh'), ...args], { timeout: 300_000 }, (err, _o, stderr) =>
      err ? reject(new Error(`kafka-sasl.sh ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(),
    ),
  );
}

beforeAll(async () => {
  await script(['start', instance]);
  sasl = readFileSync(join(RUN_DIR, instance, 'sasl-bootstrap'), 'utf8').trim();
  plain = readFileSync(join(RUN_DIR, instance, 'bootstrap'), 'utf8').trim();
}, 400_000);

afterAll(async () => {
  await script(['clean', instance]).catch(() => undefined);
}, 120_000);

describe.each(['platformatic', 'kafkajs'] as const)('kafka SASL (%s)', (client) => {
  it.each(['scram-sha-256', 'scram-sha-512', 'plain'])('%s with good credentials produces and consumes', async (mechanism) => {
    const dir = tmp();
    const topic = uniqueName(`sasl-${client}-${mechanism}`);
    const auth = `sasl: {mechanism: ${mechanism}, username: alice, password: "\${env:SB_TEST_KAFKA_PASSWORD}"}`;
    process.env.SB_TEST_KAFKA_PASSWORD = 'alice-secret';
    const s1 = await run(
      dir,
      'produce',
      `pipeline: sasl-produce
source: {type: generator, count: 50}
mapping: identity
sinks:
  - type: kafka
    client: ${client}
    brokers: ["${sasl}"]
    topic: ${topic}
    ${auth}
    createTopics: {partitions: 1, replicationFactor: 1}
`,
    );
    expect(s1.status, s1.error).toBe('ok');
    const s2 = await run(
      dir,
      'consume',
      `pipeline: sasl-consume
source:
  type: kafka
  client: ${client}
  brokers: ["${sasl}"]
  topic: ${topic}
  valueFormat: avro
  onceIdleMs: 3000
  ${auth}
mapping: identity
sinks:
  - {type: jsonl, path: out.jsonl}
`,
    );
    expect(s2.status, s2.error).toBe('ok');
    expect(readJsonl(join(dir, 'out.jsonl'))).toHaveLength(50);
  });

  it('a wrong password is a clear authentication error at start', async () => {
    const dir = tmp();
    process.env.SB_TEST_KAFKA_PASSWORD = 'not-the-password';
    await expect(
      run(
        dir,
        'bad',
        `pipeline: sasl-bad
source: {type: generator, count: 1}
sinks:
  - type: kafka
    client: ${client}
    brokers: ["${sasl}"]
    topic: whatever
    connectTimeoutMs: 3000
    requestTimeoutMs: 5000
    sasl: {mechanism: scram-sha-512, username: alice, password: "\${env:SB_TEST_KAFKA_PASSWORD}"}
`,
      ),
    ).rejects.toThrow(/kafka authentication failed/);
    expect(plain).toMatch(/:\d+$/);
  });
});
