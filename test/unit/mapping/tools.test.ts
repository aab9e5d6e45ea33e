import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { mapFile } from '../../../runtime/mapping/run-file.ts';
import { differences, testMappingFile } from '../../../runtime/mapping/tester.ts';
import { scratch } from './helpers.ts';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const MAPPING = `mapping: demo
input: { format: csv }
source: { system: pos }
lookups:
  stores: { file: stores.csv, key: store }
filter: type != 'VOID'
event:
  eventType: "'SALE'"
  sku: sku
  locationId: lookup(stores, store)
  quantity: -qty
  unitOfMeasure: "'EA'"
  occurredAt: parseDate(day, 'yyyy-MM-dd', 'Europe/Paris')
`;
const STORES = 'store,loc\nS1,LOC-1\n';
const INPUT =
  'store,sku,qty,type,day\nS1,A,1,SALE,2026-01-05\nS1,B,2,VOID,2026-01-05\nS9,C,1,SALE,2026-01-05\nS1,D,1.5,SALE,2026-13-01\n';

describe('stockbridge map (mapFile)', () => {
  it('prints events on stdout, rejects with file:line on stderr, exit 1 when something was rejected', async () => {
    const dir = scratch({ 'm.yaml': MAPPING, 'stores.csv': STORES, 'in.csv': INPUT });
    const stdout = new Sink();
    const stderr = new Sink();
    const r = await mapFile(join(dir, 'm.yaml'), join(dir, 'in.csv'), {
      stdout,
      stderr,
      receivedAt: '2026-01-06T00:00:00Z',
    });
    expect(r).toMatchObject({ code: 1, records: 4, mapped: 1, filtered: 1, rejected: 2, events: 1 });
    const events = stdout.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ sku: 'A', quantity: '-1.000', occurredAt: '2026-01-04T23:00:00.000Z' });
    expect(events[0].source).toMatchObject({
      recordRef: 'in.csv:2',
      connector: 'file',
      receivedAt: '2026-01-06T00:00:00Z',
    });
    expect(stderr.text.split('\n')).toEqual([
      'in.csv:4: locationId: no entry for "S9" in lookup stores',
      'in.csv:5: occurredAt: parseDate: "2026-13-01" does not match "yyyy-MM-dd" (month 13 out of range)',
      'demo@1: 4 records: 1 mapped (1 events), 1 filtered, 2 rejected',
      '',
    ]);
  });

  it('exit 0 when every record mapped or was filtered', async () => {
    const dir = scratch({
      'm.yaml': MAPPING,
      'stores.csv': STORES,
      'in.csv': INPUT.split('\n').slice(0, 3).join('\n'),
    });
    const r = await mapFile(join(dir, 'm.yaml'), join(dir, 'in.csv'), { stdout: new Sink(), stderr: new Sink() });
    expect(r).toMatchObject({ code: 0, mapped: 1, filtered: 1 });
  });

  it('decode errors are rejects with their column', async () => {
    const dir = scratch({
      'm.yaml': MAPPING,
      'stores.csv': STORES,
      'in.csv': 'store,sku,qty,type,day\nS1,"A,1,SALE,2026-01-05\n',
    });
    const stderr = new Sink();
    const r = await mapFile(join(dir, 'm.yaml'), join(dir, 'in.csv'), { stdout: new Sink(), stderr });
    expect(r.code).toBe(1);
    expect(stderr.text).toMatch(/^in\.csv:2(:\d+)?: /);
  });

  it('exit 2 with file:line:col for an invalid mapping, and for an unreadable input', async () => {
    const dir = scratch({ 'm.yaml': MAPPING.replace('-qty', '-qty +'), 'stores.csv': STORES, 'in.csv': INPUT });
    const stderr = new Sink();
    const r = await mapFile(join(dir, 'm.yaml'), join(dir, 'in.csv'), { stdout: new Sink(), stderr });
    expect(r.code).toBe(2);
    expect(stderr.text).toBe(`${join(dir, 'm.yaml')}:11:18: event.quantity: unexpected end of expression\n`);
    const ok = scratch({ 'm.yaml': MAPPING, 'stores.csv': STORES });
    const e2 = new Sink();
    expect((await mapFile(join(ok, 'm.yaml'), join(ok, 'none.csv'), { stdout: new Sink(), stderr: e2 })).code).toBe(2);
    expect(e2.text).toMatch(/none\.csv: cannot read input file \(ENOENT\)/);
  });
});

describe('stockbridge mapping test (testMappingFile)', () => {
  const TESTS = `- name: sale
  input: |
    store,sku,qty,type,day
    S1,A,1,SALE,2026-01-05
  expect:
    - { sku: A, quantity: '-1.000', locationId: LOC-1 }
- name: void and unknown store
  input: |
    store,sku,qty,type,day
    S1,B,2,VOID,2026-01-05
    S9,C,1,SALE,2026-01-05
  filtered: 1
  rejects:
    - { line: 3, field: locationId, reason: no entry }
- name: decoded records
  records:
    - { store: S1, sku: Z, qty: 3, type: SALE, day: '2026-07-01' }
  expect:
    - { sku: Z, quantity: -3, occurredAt: '2026-06-30T22:00:00.000Z' }
`;

  it('passes, with a summary line', async () => {
    const dir = scratch({ 'm.yaml': `${MAPPING}tests: t.yaml\n`, 'stores.csv': STORES, 't.yaml': TESTS });
    const stdout = new Sink();
    expect(await testMappingFile(join(dir, 'm.yaml'), { stdout, stderr: new Sink() })).toBe(0);
    expect(stdout.text).toBe(`${join(dir, 'm.yaml')}: 3 tests passed (2 events, 1 rejects, 1 filtered)\n`);
  });

  it('fails with a readable difference per test', async () => {
    const broken = TESTS.replace("quantity: '-1.000'", "quantity: '1.000'")
      .replace('filtered: 1', 'filtered: 0')
      .replace('reason: no entry', 'reason: unknown store');
    const dir = scratch({ 'm.yaml': `${MAPPING}tests: t.yaml\n`, 'stores.csv': STORES, 't.yaml': broken });
    const stdout = new Sink();
    expect(await testMappingFile(join(dir, 'm.yaml'), { stdout, stderr: new Sink() })).toBe(1);
    const lines = stdout.text.split('\n');
    expect(lines[0]).toMatch(/^FAIL sale \(.*t\.yaml:1\)$/);
    expect(lines[1]).toBe('     event 1 (record 1, line 2): quantity: expected "1.000", got "-1.000"');
    expect(lines[2]).toMatch(/^FAIL void and unknown store \(.*t\.yaml:7\)$/);
    expect(lines[3]).toBe(
      '     reject 1 (record 2, line 3: locationId: no entry for "S9" in lookup stores): reason "no entry for \\"S9\\" in lookup stores" does not contain "unknown store"',
    );
    expect(lines[4]).toBe('     filtered: expected 0, got 1');
    expect(lines[5]).toBe(`${join(dir, 'm.yaml')}: 2 of 3 tests failed`);
  });

  it('reports unexpected and missing events and rejects', async () => {
    const t = `- name: n\n  input: |\n    store,sku,qty,type,day\n    S9,A,1,SALE,2026-01-05\n  expect:\n    - { sku: A }\n`;
    const dir = scratch({ 'm.yaml': `${MAPPING}tests: t.yaml\n`, 'stores.csv': STORES, 't.yaml': t });
    const stdout = new Sink();
    expect(await testMappingFile(join(dir, 'm.yaml'), { stdout, stderr: new Sink() })).toBe(1);
    expect(stdout.text).toContain('     missing event 1: expected {"sku":"A"}');
    expect(stdout.text).toContain(
      '     unexpected reject (record 1, line 2): locationId: no entry for "S9" in lookup stores',
    );
  });

  it('inline tests, and a mapping without tests fails', async () => {
    const inline = `${MAPPING}tests:\n  - name: one\n    records: [{ store: S1, sku: A, qty: 1, type: SALE, day: '2026-01-05' }]\n    expect: [{ sku: A }]\n`;
    const dir = scratch({ 'm.yaml': inline, 'n.yaml': MAPPING, 'stores.csv': STORES });
    expect(await testMappingFile(join(dir, 'm.yaml'), { stdout: new Sink(), stderr: new Sink() })).toBe(0);
    const stderr = new Sink();
    expect(await testMappingFile(join(dir, 'n.yaml'), { stdout: new Sink(), stderr })).toBe(1);
    expect(stderr.text).toMatch(/no tests declared/);
  });

  it('an invalid test file is a configuration error with its position', async () => {
    const dir = scratch({
      'm.yaml': `${MAPPING}tests: t.yaml\n`,
      'stores.csv': STORES,
      't.yaml': '- name: x\n  expct: []\n',
    });
    const stderr = new Sink();
    expect(await testMappingFile(join(dir, 'm.yaml'), { stdout: new Sink(), stderr })).toBe(2);
    expect(stderr.text).toMatch(/t\.yaml:2:3: unknown key 'expct' in \[0\] \(did you mean expect\?\)/);
  });

  it('compares given fields only, numbers against decimal text, exact mode everything but receivedAt', () => {
    const actual = { a: '1.000', b: { c: 'x', d: null }, source: { receivedAt: 'now', system: 's' } };
    expect(differences({ a: 1, b: { c: 'x' } }, actual, false)).toEqual([]);
    expect(differences({ a: '1.0' }, actual, false)).toEqual(['a: expected "1.0", got "1.000"']);
    expect(differences({ a: 1, b: { c: 'x' }, source: { system: 's' } }, actual, true)).toEqual([]);
    expect(differences({ a: 1, source: { system: 's' } }, actual, true)).toEqual([
      'b: not expected, got {"c":"x","d":null}',
    ]);
  });
});

describe('the commands are wired into the CLI', () => {
  it('map and mapping test run from cli/stockbridge.mjs with their exit codes', () => {
    const dir = scratch({
      'm.yaml': `${MAPPING}tests:\n  - name: one\n    records: [{ store: S1, sku: A, qty: 1, type: SALE, day: '2026-01-05' }]\n    expect: [{ sku: A }]\n`,
      'stores.csv': STORES,
      'in.csv': INPUT,
    });
    const root = join(import.meta.dirname, '../../..');
    const cli = (...args: string[]) =>
      spawnSync(join(root, 'node_modules/.bin/node'), [join(root, 'cli/stockbridge.mjs'), ...args], {
        encoding: 'utf8',
      });
    const map = cli('map', join(dir, 'm.yaml'), join(dir, 'in.csv'));
    expect(map.status).toBe(1);
    expect(map.stdout.trim().split('\n')).toHaveLength(1);
    expect(map.stderr).toContain('in.csv:4: locationId: no entry for "S9" in lookup stores');
    const test = cli('mapping', 'test', join(dir, 'm.yaml'));
    expect(test.status).toBe(0);
    expect(test.stdout).toContain('1 test passed');
  }, 60_000);
});
