import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../runtime/contracts/spi.ts';
import { openSqliteStore } from '../../../runtime/state/sqlite-store.ts';
import { stateStoreSuite } from './store-suite.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'sb-state-'));

// The behavioural contract shared with the Redis store (test/integration/scaling-redis-store.test.ts).
stateStoreSuite('SQLite', () => {
  const d = dir();
  return { open: (pipeline: string) => openSqliteStore(d, pipeline) };
});

describe('SQLite state store', () => {
  it('refuses an unwritable state directory with a ConfigError', () => {
    const d = join(dir(), 'ro');
    mkdirSync(d);
    chmodSync(d, 0o500);
    const asRoot = process.getuid?.() === 0;
    // root ignores permission bits; a path under a regular file fails for everyone
    const target = asRoot ? join('/proc/self/status', 'state') : d;
    expect(() => openSqliteStore(target, 'p')).toThrow(ConfigError);
  });
});
