/**
 * Start-up cost: `stockbridge --version`, `validate` or a pipeline that uses one connector must not load every
 * client library. Connector spec modules (connectors/<name>/index.ts) declare options only and load their
 * implementation inside create().
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../support/cli.ts';

const HEAVY = ['kafkajs', '@platformatic/kafka', 'parquet-wasm', 'apache-arrow', '@duckdb/node-api', 'bullmq', 'ioredis', 'rhea', 'ibmmq', 'node-rfc', 'undici'];

function packagesLoadedBy(module: string): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = new Set();
    registerHooks({ resolve(spec, ctx, next) { if (!spec.startsWith('.') && !spec.startsWith('/') && !spec.startsWith('node:') && !spec.startsWith('file:')) seen.add(spec); return next(spec, ctx); } });
    await import(${JSON.stringify(module)});
    process.stdout.write(JSON.stringify([...seen]));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('start-up', () => {
  it('the connector registry loads no client library', () => {
    const loaded = packagesLoadedBy(`${ROOT}/connectors/index.ts`);
    expect(loaded.filter((p) => HEAVY.some((h) => p === h || p.startsWith(`${h}/`)))).toEqual([]);
  });

  it('the CLI loads no client library before a command needs it', () => {
    const loaded = packagesLoadedBy(`${ROOT}/cli/main.ts`);
    expect(loaded.filter((p) => HEAVY.some((h) => p === h || p.startsWith(`${h}/`)))).toEqual([]);
  });
});
