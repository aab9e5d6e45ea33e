#!/usr/bin/env node
// Entry point of the `stockbridge` executable. Stockbridge runs its TypeScript sources directly (Node's type
// stripping), which needs Node >= 22.18; the project pins Node 24 through the `node` npm package. When started by
// an older system Node, re-run the same command with the pinned one.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(
      `stockbridge: Node ${process.versions.node} is too old (needs >= 22.18; 24 recommended). Run 'npm install' in ${root} to get the pinned Node 24.\n`,
    );
    process.exit(2);
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

// node:sqlite still prints an ExperimentalWarning on every start; keep stderr for real problems.
const emit = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
  if (type === 'ExperimentalWarning' && String(warning).includes('SQLite')) return;
  return emit.call(process, warning, ...rest);
};

// `stockbridge … | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const { main } = await import('./main.ts');
await main(process.argv);
