/**
 * Every mapping in mappings/ compiles and passes the tests it declares (what `stockbridge mapping test` runs), so CI
 * keeps the examples honest.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMapping } from '../../../runtime/mapping/compile.ts';
import { loadTests, runTests } from '../../../runtime/mapping/tester.ts';

const dir = join(import.meta.dirname, '../../../mappings');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

const OURS = ['store-sales.yaml', 'warehouse-transfers.yaml', 'stock-counts.yaml', 'sap-goods-movements.yaml'];

describe('example mappings', () => {
  it('exist', () => {
    for (const f of OURS) expect(files).toContain(f);
  });

  for (const f of files) {
    it(`${f}: its declared tests pass`, async () => {
      const m = await loadMapping(join(dir, f), { verify: true });
      expect(loadTests(m).length, `${f} declares no tests`).toBeGreaterThan(0);
      const results = await runTests(m);
      const failed = results.filter((r) => !r.passed).map((r) => `${r.name}:\n  ${r.problems.join('\n  ')}`);
      expect(failed, failed.join('\n')).toEqual([]);
      if (OURS.includes(f)) expect(results.reduce((n, r) => n + r.events, 0)).toBeGreaterThan(0);
    });
  }
});
