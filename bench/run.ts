/**
 * Runs every bench/*.bench.ts (or the ones named) one after another in its own process, pinned to one core
 * when `taskset` exists, prints their JSON result lines and appends them to bench/results.jsonl.
 *   npm run bench                 all of them
 *   npm run bench -- engine file  the ones whose file name starts with these
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
const taskset = spawnSync('taskset', ['--version']).status === 0;
const pinned = (f: string) => !f.startsWith('scaling') && !f.startsWith('kafka'); // these need both cores (workers, broker)
let failed = 0;
for (const f of files) {
  process.stderr.write(`\n== ${f}\n`);
  const useTaskset = taskset && pinned(f);
  const cmd = useTaskset ? 'taskset' : process.execPath;
  const args = useTaskset ? ['-c', '0', process.execPath, join(dir, f)] : [join(dir, f)];
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20 });
  process.stdout.write(r.stdout ?? '');
  const at = new Date().toISOString();
  for (const line of (r.stdout ?? '').split('\n'))
    if (line.startsWith('{')) appendFileSync(join(dir, 'results.jsonl'), `${JSON.stringify({ at, ...JSON.parse(line) })}\n`);
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`${f} exited with ${r.status}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
