/**
 * Exactly-once SAP postings across crashes: the real `stockbridge` CLI posts canonical events through the
 * `sap-posting` sink (OData transport) to the API_MATERIAL_DOCUMENT_SRV test double, is SIGKILLed at random points
 * while postings are in flight (and while some answers are lost to scripted timeouts), restarted, and finally run to the
 * end. The double counts postings per key: every event must be posted exactly once — zero duplicates, none missing.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { postingKey } from '../../connectors/sap/values.ts';
import { EventIdNamespace } from '../../runtime/contracts/event-id.ts';
import { openSqliteStore } from '../../runtime/state/sqlite-store.ts';
import { ODataServerDouble } from '../doubles/odata-server-double.ts';
import { cliSpawn } from '../support/cli.ts';

const N = 3000;

// A small seeded PRNG so a failure can be reproduced from the printed seed.
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sap = new ODataServerDouble({ user: 'STOCKBRIDGE', password: 'secret', hangMs: 2000 });
afterAll(() => sap.stop());

describe('sap-posting: zero duplicates across SIGKILL and restart (OData double)', () => {
  it('posts every event exactly once', async () => {
    const seed = Number(process.env.SAP_CRASH_SEED ?? Date.now() % 100_000);
    const rnd = prng(seed);
    await sap.start();
    // Lose the answer of ~1 in 80 postings after SAP posted them (UNCERTAIN → resolved by lookup).
    let posts = 0;
    for (let i = 0; i < N; i++) sap.script.push(() => (++posts % 80 === 0 ? 'timeout-after-post' : undefined));

    const dir = mkdtempSync(join(tmpdir(), 'sb-sap-crash-'));
    const ns = new EventIdNamespace('sap-crash-test');
    const keys = new Set<string>();
    let input = '';
    for (let i = 0; i < N; i++) {
      const eventId = ns.id('event', i);
      keys.add(postingKey(eventId));
      input += `${JSON.stringify({
        eventId,
        eventType: i % 5 === 0 ? 'RECEIPT' : 'SALE',
        sku: String(100000 + (i % 300)),
        locationId: `1010/000${1 + (i % 3)}`,
        quantity: i % 5 === 0 ? '6.000' : '-1.000',
        unitOfMeasure: 'EA',
        occurredAt: new Date(Date.UTC(2026, 10, 21, 8) + i * 1000).toISOString(),
        references: { documentId: `T${i}` },
        source: { system: 'pos', connector: 'file', recordRef: `input:${i + 1}`, receivedAt: '2026-11-21T08:00:00.000Z' },
      })}\n`;
    }
    writeFileSync(join(dir, 'input.jsonl'), input);
    const pipeline = join(dir, 'sap.yaml');
    writeFileSync(
      pipeline,
      `pipeline: sap-crash
source:
  type: file
  path: input.jsonl
mapping: identity
sinks:
  - type: sap-posting
    name: s4
    transport: odata
    odata:
      url: ${sap.url}
      user: STOCKBRIDGE
      password: \${env:SAP_TEST_PASSWORD}
      timeoutMs: 300
    units: { EA: ST }
    settleMs: 100
    concurrency: 8
delivery:
  batchSize: 100
  maxPendingBatches: 4
  retry: { initialDelayMs: 20, maxDelayMs: 200 }
`,
    );
    const env = { SAP_TEST_PASSWORD: 'secret' };
    const state = join(dir, 'state');

    let kills = 0;
    for (let round = 0; round < 5 && sap.documents.length < N - 200; round++) {
      const child = cliSpawn(['run', pipeline, '--once', '--state-dir', state], { env });
      let stderr = '';
      child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const target = sap.documents.length + 100 + Math.floor(rnd() * 500);
      const deadline = Date.now() + 60_000;
      let done = false;
      exited.then(() => (done = true));
      while (!done && sap.documents.length < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      let killed = false;
      if (!done) {
        killed = child.kill('SIGKILL');
        kills++;
      }
      const code = await exited;
      if (!killed && code !== 0) throw new Error(`run ${round} exited with ${code} (seed ${seed}): ${stderr.slice(-3000)}`);
    }
    // The last run to the end (asynchronous: the double answers from this process).
    const last = cliSpawn(['run', pipeline, '--once', '--json', '--state-dir', state], { env });
    let lastErr = '';
    last.stderr?.on('data', (b: Buffer) => (lastErr += b.toString()));
    const lastCode = await new Promise<number | null>((r) => last.on('exit', (code) => r(code)));
    expect(lastCode, `seed ${seed}: ${lastErr.slice(-3000)}`).toBe(0);

    expect(kills, `seed ${seed}`).toBeGreaterThan(0);
    expect(sap.duplicates(), `seed ${seed}: keys posted twice`).toEqual([]);
    const posted = new Set(sap.postingsPerKey.keys());
    expect([...keys].filter((k) => !posted.has(k)), `seed ${seed}: keys never posted`).toEqual([]);
    expect(sap.documents, `seed ${seed}`).toHaveLength(N);
    expect(sap.requests.lookup, 'uncertain postings were resolved by lookup').toBeGreaterThan(0);

    const store = openSqliteStore(state, 'sap-crash');
    expect(await store.countOutbox('sap-posting:s4')).toEqual({ PENDING: 0, POSTED: N, FAILED: 0, UNCERTAIN: 0 });
    expect(await store.countDeadLetters()).toBe(0);
    await store.close();
  });
});
