/**
 * Crash safety of the Parquet sink through the real CLI: generator → identity → parquet, SIGKILLed at random
 * points and restarted until it finishes. Every visible file must be a complete Parquet file (DuckDB reads all of
 * them), no event may be lost, duplicates may only repeat ids already emitted, and the last run leaves staging
 * empty (orphans of killed runs are cleaned at start).
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../support/cli.ts';
import { duck } from '../unit/parquet/helpers.ts';

const N = 30_000;

function pipeline(dir: string, lake: string): string {
  const f = join(dir, `${lake}.yaml`);
  writeFileSync(
    f,
    `pipeline: parquet-crash
source:
  type: generator
  count: ${N}
  stepMs: 20000
mapping: identity
sinks:
  - type: parquet
    path: ${lake}
    createPath: true
    partitionBy: [event_date]
    rowGroupSize: 700
    manifest: true
delivery:
  batchSize: 250
  maxPendingBatches: 8
`,
  );
  return f;
}

function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const staged = (lake: string) => {
  const d = join(lake, '_staging', 'parquet-crash');
  return existsSync(d) ? readdirSync(d) : [];
};

const visible = (lake: string) => (readdirSync(lake, { recursive: true }) as string[]).filter((f) => f.endsWith('.parquet') && !f.startsWith('_'));

async function ids(lake: string): Promise<string[]> {
  if (visible(lake).length === 0) return []; // killed before its first publish
  // Reads every visible file: a torn or partial file would make DuckDB fail here.
  const rows = await duck(`SELECT event_id FROM read_parquet('${lake}/**/*.parquet', hive_partitioning = true)`);
  return rows.map((r) => r.event_id as string);
}

describe('parquet sink crash safety (SIGKILL)', () => {
  it('never shows a partial file and loses nothing across kills', { timeout: 900_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-parquet-crash-'));
    const ref = cli(['run', pipeline(dir, 'reference'), '--once', '--json', '--state-dir', join(dir, 'state-ref')]);
    expect(ref.code, ref.stderr).toBe(0);
    const expected = await ids(join(dir, 'reference'));
    expect(expected).toHaveLength(N);
    expect(new Set(expected).size).toBe(N);

    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
    const rand = prng(seed);
    const lake = join(dir, 'crashy');
    const p = pipeline(dir, 'crashy');
    let kills = 0;
    let killedWithStaged = 0;
    let finished = false;
    // Up to 8 runs killed at a random point after the first output of the run (the CLI's start-up time varies a
    // lot on a loaded machine), then one run left to finish.
    for (let attempt = 0; attempt < 9 && !finished; attempt++) {
      const child = cliSpawn(['run', p, '--once', '--json', '--state-dir', join(dir, 'state')], { env: { STOCKBRIDGE_LOG_LEVEL: 'info' } });
      let stderr = '';
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        if (timer || attempt === 8) return;
        timer = setTimeout(() => child.kill('SIGKILL'), 200 + Math.floor(rand() * 1500));
      };
      child.stderr!.on('data', (d) => {
        stderr += d;
        arm();
      });
      child.stdout!.on('data', arm);
      const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') {
        kills++;
        if (staged(lake).length) killedWithStaged++;
        // After every kill, whatever is visible is complete and readable.
        if (existsSync(lake)) await ids(lake);
      } else {
        expect(code, `seed ${seed}: ${stderr}`).toBe(0);
        finished = true;
      }
    }
    expect(finished, `seed ${seed}: pipeline never finished`).toBe(true);
    expect(kills, `seed ${seed}`).toBeGreaterThan(0);
    expect(staged(lake), 'staging is cleaned by the next run').toEqual([]);

    const got = await ids(lake);
    const want = new Set(expected);
    for (const id of got) expect(want.has(id), `seed ${seed}: invented id ${id}`).toBe(true);
    const seen = new Set(got);
    const lost = expected.filter((id) => !seen.has(id));
    expect(lost, `seed ${seed}: lost ${lost.length} events`).toEqual([]);
    // Duplicates are bounded by what was in flight (maxPendingBatches × batchSize) at each kill.
    expect(got.length - N, `seed ${seed}`).toBeLessThanOrEqual(kills * 8 * 250 + kills * 250);
    // Every data file has its manifest and they agree on rows (a kill between the two renames could leave a
    // data file without one: allowed, but then it must be the only kind of mismatch).
    const files = visible(lake);
    const manifests = (readdirSync(join(lake, '_manifests'), { recursive: true }) as string[]).filter((f) => f.endsWith('.json'));
    expect(manifests.length).toBeLessThanOrEqual(files.length);
    expect(files.length - manifests.length).toBeLessThanOrEqual(kills);
    process.stderr.write(`parquet crash test: seed ${seed}, ${kills} kills (${killedWithStaged} with a file in staging), ${got.length - N} duplicates\n`);
  });
});
