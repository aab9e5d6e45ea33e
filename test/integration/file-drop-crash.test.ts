/**
 * Issue #4: SIGKILL during a file and restart — no line lost, none emitted twice under a different id.
 * Real CLI, real file-drop source, the store-sales mapping, a jsonl sink.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn, lastJsonLine, ROOT } from '../support/cli.ts';

const LINES = 12_000;

function storeCsv(): string {
  let s = 'store,sku,qty,type,date,time,ticket,line,price\n';
  for (let i = 0; i < LINES; i++) {
    const sec = i % 36_000;
    const time = `${String(8 + Math.floor(sec / 3600)).padStart(2, '0')}${String(Math.floor(sec / 60) % 60).padStart(2, '0')}${String(sec % 60).padStart(2, '0')}`;
    s += `S0${String((i % 9) + 1).padStart(2, '0')},SKU${String(i % 5000).padStart(6, '0')},${(i % 3) + 1},SALE,20261120,${time},T${i},1,4.99\n`;
  }
  return s;
}

function pipeline(dir: string, out: string): string {
  const f = join(dir, `${out}.yaml`);
  cpSync(join(ROOT, 'mappings'), join(dir, 'mappings'), { recursive: true });
  writeFileSync(
    f,
    `pipeline: drop-crash\nsource:\n  type: file-drop\n  path: drops-${out}\n  include: ["*.csv"]\n  minAgeMs: 0\n  stableMs: 0\n  chunkSize: 16384\nmapping: mappings/store-sales.yaml\nsinks:\n  - type: jsonl\n    path: ${out}.jsonl\ndelivery:\n  batchSize: 250\n  maxPendingBatches: 4\n`,
  );
  mkdirSync(join(dir, `drops-${out}`), { recursive: true });
  for (const n of ['a', 'b']) {
    const p = join(dir, `drops-${out}`, `sales_${n}.csv`);
    writeFileSync(p, storeCsv().replaceAll(',T', `,${n.toUpperCase()}`));
    utimesSync(p, 1, 1);
  }
  return f;
}

function events(file: string): Array<{ eventId: string; ref: string }> {
  const text = readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trimEnd()
    .split('\n')
    .map((l) => {
      const e = JSON.parse(l);
      return { eventId: e.eventId, ref: e.source.recordRef };
    });
}

const size = (f: string) => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};

describe('file-drop crash safety (SIGKILL mid-file)', () => {
  it('loses no line and never emits a line under a different id', { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-dropcrash-'));
    const ref = cli(['run', pipeline(dir, 'reference'), '--once', '--json', '--state-dir', join(dir, 'state-ref')]);
    expect(ref.code, ref.stderr).toBe(0);
    expect(lastJsonLine(ref.stdout)).toMatchObject({ recordsIn: 2 * LINES, recordsRejected: 0 });
    const expected = new Map(events(join(dir, 'reference.jsonl')).map((e) => [e.ref, e.eventId]));
    expect(expected.size).toBe(2 * LINES);

    const p = pipeline(dir, 'crashy');
    const out = join(dir, 'crashy.jsonl');
    let kills = 0;
    let finished = false;
    for (let attempt = 0; attempt < 25 && !finished; attempt++) {
      const child = cliSpawn(['run', p, '--once', '--json', '--state-dir', join(dir, 'state')]);
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
      let done = false;
      void exited.then(() => (done = true));
      const before = size(out);
      while (!done && size(out) <= before) await new Promise((r) => setTimeout(r, 5));
      if (!done && kills < 8) {
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 100)));
        child.kill('SIGKILL');
      }
      const [code, signal] = await exited;
      if (signal === 'SIGKILL') kills++;
      else {
        expect(code, stderr).toBe(0);
        finished = true;
      }
    }
    expect(finished).toBe(true);
    expect(kills).toBeGreaterThan(0);

    const got = events(out);
    // The same line (same file content, same line number) always carries the same id as in the clean run.
    for (const e of got) expect(expected.get(e.ref.replace(/^drops-crashy\//, '')), e.ref).toBe(e.eventId);
    const seen = new Set(got.map((e) => e.ref));
    expect([...expected.keys()].filter((r) => !seen.has(r))).toEqual([]);
    // Both files archived exactly once, nothing left in processing.
    const archived = readdirSync(join(dir, 'drops-crashy', '.archive'), { recursive: true }).filter((f) => String(f).endsWith('.csv'));
    expect(archived.sort()).toEqual(expect.arrayContaining([expect.stringMatching(/sales_a\.csv$/), expect.stringMatching(/sales_b\.csv$/)]));
    expect(archived).toHaveLength(2);
  });
});
