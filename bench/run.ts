/**
 * Runs every bench/*.bench.ts (or the ones named) one after another in its own process, pinned to one core
 * when `taskset` exists, and prints their JSON result lines. `npm run bench -- engine formats`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
const taskset = spawnSync('taskset', ['--version']).status === 0;
let failed = 0;
for (const f of files) {
  process.stderr.write(`\n== ${f}\n`);
  const cmd = taskset ? 'taskset' : process.execPath;
  const args = taskset ? ['-c', '0', process.execPath, join(dir, f)] : [join(dir, f)];
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`${f} exited with ${r.status}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
