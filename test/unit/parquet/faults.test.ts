/**
 * Faults: missing path, not a directory, permission denied (at start: ConfigError), disk full (write rejects with
 * a TransientError, nothing visible, retry succeeds once space is back), a blocked partition directory and a
 * vanished lake root (write rejects with a fatal error). Disk full uses a real 1 MiB tmpfs; permission denied
 * runs the check as an unprivileged user, since root bypasses permission bits. Both need root and are skipped
 * (with the reason in the test name) otherwise.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ParquetSink } from '../../../connectors/parquet/sink.ts';
import { classify } from '../../../connectors/parquet/sink.ts';
import { ConfigError, TransientError } from '../../../runtime/contracts/spi.ts';
import { ROOT } from '../../support/cli.ts';
import { duck, events, lakeDir, openSink } from './helpers.ts';

const open: ParquetSink[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
});

const isRoot = process.getuid?.() === 0;

function canMountTmpfs(): boolean {
  if (!isRoot) return false;
  const dir = lakeDir('sb-parquet-mnt-probe-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  if (r.status !== 0) return false;
  spawnSync('umount', [dir]);
  return true;
}
const tmpfs = canMountTmpfs();
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
});

const visibleParquet = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.parquet') && !f.startsWith('_'));

describe('parquet sink faults at start', () => {
  it('refuses a missing path with a ConfigError, and creates it only with createPath', async () => {
    const dir = join(lakeDir(), 'missing', 'lake');
    await expect(openSink(dir)).rejects.toThrow(ConfigError);
    await expect(openSink(dir)).rejects.toThrow(/does not exist \(create it, or set createPath: true\)/);
    expect(existsSync(dir)).toBe(false);
    const { sink } = await openSink(dir, { createPath: true });
    open.push(sink);
    expect(existsSync(join(dir, '_staging', 'test'))).toBe(true);
  });

  it('refuses a path that is a file', async () => {
    const file = join(lakeDir(), 'lake');
    writeFileSync(file, 'x');
    await expect(openSink(file)).rejects.toThrow(/is not a directory/);
  });

  it.skipIf(!isRoot)('refuses a directory it cannot write to (EACCES), as an unprivileged user [needs root to switch user]', () => {
    const dir = lakeDir();
    chmodSync(dir, 0o755); // root-owned, not writable by others
    const script = join(lakeDir('sb-parquet-script-'), 'probe.ts');
    chmodSync(join(script, '..'), 0o755);
    writeFileSync(
      script,
      `import { parquetSink } from '${ROOT}/connectors/parquet/index.ts';
const log = { debug() {}, info() {}, warn() {}, error() {}, child() { return log; } };
try {
  await parquetSink.create({ path: '${dir}', createPath: false, partitionBy: [], rollRows: 1, rollBytes: 1e9, rollSeconds: 0, compression: 'snappy', compressionLevel: 3, rowGroupSize: 1, pageRows: 1, maxOpenFiles: 1, manifest: false, attributes: 'map', fsync: true, writerThread: false }, { pipeline: 'p', baseDir: '/', stateDir: '/', log, sink: {} });
  console.log('OPENED');
} catch (err) { console.log(err.name + ': ' + err.message); }
`,
    );
    chmodSync(script, 0o644);
    const r = spawnSync(process.execPath, [script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
    expect(r.stdout.trim(), r.stderr).toMatch(/^ConfigError: parquet sink: cannot write to .*: EACCES/);
  });
});

describe('parquet sink faults while writing', () => {
  it('classifies errno codes: disk full and descriptor exhaustion retry, the rest stops the pipeline', () => {
    const err = (code: string) => Object.assign(new Error(`x ${code}`), { code });
    for (const code of ['ENOSPC', 'EDQUOT', 'EMFILE']) expect(classify(err(code))).toBeInstanceOf(TransientError);
    for (const code of ['EACCES', 'EROFS', 'ENOENT', 'EIO', 'ENOTDIR']) expect(classify(err(code))).not.toBeInstanceOf(TransientError);
  });

  it.skipIf(!tmpfs)('disk full: the write rejects with a TransientError, nothing is visible, a retry succeeds once space is back [needs root + tmpfs]', async () => {
    const dir = lakeDir();
    spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    mounts.push(dir);
    const { sink } = await openSink(dir, { partitionBy: [] });
    open.push(sink);
    writeFileSync(join(dir, 'filler'), Buffer.alloc(900 * 1024));
    const evs = events(0, 30_000); // ~0.6 MB of Parquet
    const w = sink.write(evs, {});
    void sink.flush().catch(() => undefined);
    const err = await w.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(TransientError);
    expect(err!.message).toMatch(/ENOSPC/);
    expect(visibleParquet(dir)).toEqual([]);
    expect(readdirSync(join(dir, '_staging', 'test'))).toEqual([]); // the partial file is gone
    rmSync(join(dir, 'filler'));
    await Promise.all([sink.write(evs, {}), sink.flush()]); // what the engine's retry does
    const [{ n }] = await duck(`SELECT count(*) AS n FROM read_parquet('${dir}/*.parquet')`);
    expect(n).toBe('30000');
  });

  it('a partition directory that cannot be created fails the write with a fatal error naming the file', async () => {
    const dir = lakeDir();
    writeFileSync(join(dir, 'event_date=2026-11-21'), 'not a directory');
    const { sink } = await openSink(dir);
    open.push(sink);
    const w = sink.write(events(0, 30), {});
    void sink.flush().catch(() => undefined);
    const err = await w.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(TransientError);
    expect(err!.message).toMatch(/parquet: publishing event_date=2026-11-21\/.*\.parquet: E(EXIST|NOTDIR)/);
    // the writer thread removes the failed staging file right after reporting the error
    for (let i = 0; i < 100 && readdirSync(join(dir, '_staging', 'test')).length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync(join(dir, '_staging', 'test'))).toEqual([]);
  });

  it('a vanished lake root fails the write and is not recreated', async () => {
    const dir = join(lakeDir(), 'lake');
    mkdirSync(dir);
    const { sink } = await openSink(dir, { writerThread: false });
    open.push(sink);
    rmSync(dir, { recursive: true });
    const w = sink.write(events(0, 10), {});
    void sink.flush().catch(() => undefined);
    await expect(w).rejects.toThrow(/ENOENT/);
    expect(existsSync(dir)).toBe(false);
  });
});
