/**
 * Crash safety: SIGKILL a file → file pipeline at random points, restart it, and show that no event is lost and
 * that every duplicate carries an id already emitted (the same record always maps to the same eventId).
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../support/cli.ts';

const N = 20_000;

function inputLines(): string {
  let s = '';
  for (let i = 0; i < N; i++) {
    const e = {
      schemaVersion: 1,
      eventType: i % 7 === 0 ? 'RETURN' : 'SALE',
      sku: `SKU${i % 997}`,
      locationId: `S${i % 41}`,
      quantity: i % 7 === 0 ? '1.000' : '-1.000',
      unitOfMeasure: 'EA',
      occurredAt: new Date(Date.UTC(2026, 10, 21, 8) + i * 1000).toISOString(),
      source: { system: 'pos', connector: 'file', recordRef: 'input', receivedAt: '2026-11-21T08:00:00.000Z' },
    };
    s += `${JSON.stringify(e)}\n`;
  }
  return s;
}

function pipeline(dir: string, out: string): string {
  const f = join(dir, `${out}.yaml`);
  writeFileSync(
    f,
    `pipeline: crash-test
source:
  type: file
  path: input.jsonl
mapping: identity
sinks:
  - type: jsonl
    path: ${out}.jsonl
delivery:
  batchSize: 200
  maxPendingBatches: 8
`,
  );
  return f;
}

function size(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function ids(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { eventId: string }).eventId);
}

// A small seeded PRNG so a failure can be reproduced from the printed seed.
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('crash safety (SIGKILL)', () => {
  it('loses nothing and duplicates only with ids already emitted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-crash-'));
    writeFileSync(join(dir, 'input.jsonl'), inputLines());

    // Reference: one clean run.
    const ref = cli(['run', pipeline(dir, 'reference'), '--once', '--json', '--state-dir', join(dir, 'state-ref')]);
    expect(ref.code, ref.stderr).toBe(0);
    const expected = ids(join(dir, 'reference.jsonl'));
    expect(expected).toHaveLength(N);
    expect(new Set(expected).size).toBe(N);

    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
    const rand = prng(seed);
    const p = pipeline(dir, 'crashy');
    let kills = 0;
    let finished = false;
    for (let attempt = 0; attempt < 40 && !finished; attempt++) {
      const child = cliSpawn(['run', p, '--once', '--json', '--state-dir', join(dir, 'state')]);
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
      // Kill at a random point while the pipeline is writing (start-up time varies with machine load).
      const before = size(join(dir, 'crashy.jsonl'));
      let done = false;
      void exited.then(() => (done = true));
      while (!done && size(join(dir, 'crashy.jsonl')) <= before) await new Promise((r) => setTimeout(r, 5));
      if (!done && kills < 8) {
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 120)));
        child.kill('SIGKILL');
      }
      const [code, signal] = await exited;
      if (signal === 'SIGKILL') kills++;
      else {
        expect(code, `seed ${seed}: ${stderr}`).toBe(0);
        finished = true;
      }
    }
    expect(finished, `seed ${seed}: pipeline never finished`).toBe(true);
    expect(kills, `seed ${seed}`).toBeGreaterThan(0);

    const got = ids(join(dir, 'crashy.jsonl')); // parses every line: no torn line survived
    const want = new Set(expected);
    for (const id of got) expect(want.has(id), `seed ${seed}: invented id ${id}`).toBe(true);
    const seen = new Set(got);
    const lost = expected.filter((id) => !seen.has(id));
    expect(lost, `seed ${seed}: lost ${lost.length} events`).toEqual([]);
    // Duplicates are bounded by what was in flight at each kill.
    expect(got.length - N).toBeLessThanOrEqual(kills * 8 * 200 + kills * 200);
  });
});
