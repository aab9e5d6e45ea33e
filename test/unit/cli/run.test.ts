import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { cli, cliSpawn, lastJsonLine, ROOT } from '../../support/cli.ts';

const eventSchema = JSON.parse(readFileSync(join(ROOT, 'runtime/contracts/inventory-event.schema.json'), 'utf8'));

function pipelineFile(body: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, body);
  return { dir, file };
}

describe('stockbridge run', () => {
  it('runs generator → identity → jsonl and prints the summary as the last stdout line', () => {
    const { dir, file } = pipelineFile('pipeline: gen\nsource:\n  type: generator\n  count: 2500\nsinks:\n  - type: jsonl\n    path: out.jsonl\n');
    const r = cli(['run', file, '--once', '--json', '--state-dir', join(dir, 'state')]);
    expect(r.code, r.stderr).toBe(0);
    const s = lastJsonLine(r.stdout);
    expect(s).toMatchObject({ pipeline: 'gen', status: 'ok', recordsIn: 2500, recordsMapped: 2500, recordsFiltered: 0, recordsRejected: 0, eventsOut: 2500 });
    expect(typeof s.durationMs).toBe('number');
    const lines = readFileSync(join(dir, 'out.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(2500);
    const validate = new Ajv2020({ strict: false }).compile(eventSchema);
    for (const l of lines.slice(0, 50)) expect(validate(JSON.parse(l)), JSON.stringify(validate.errors)).toBe(true);
    const ids = new Set(lines.map((l) => JSON.parse(l).eventId));
    expect(ids.size).toBe(2500);
    // A second run has nothing left to do: the generator's position was committed.
    const again = lastJsonLine(cli(['run', file, '--once', '--json', '--state-dir', join(dir, 'state')]).stdout);
    expect(again.recordsIn).toBe(0);
  });

  it('reports config errors as file:line:col with exit code 2 and no stack trace', () => {
    const { file } = pipelineFile('pipeline: bad\nsource:\n  type: generator\n  count: -1\nsinks:\n  - type: discard\n');
    const r = cli(['run', file, '--once']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`${file}:4:10: source.count must be >= 0`);
    const missing = cli(['run', join(ROOT, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`${join(ROOT, 'nope.yaml')}: file not found`);
    const usage = cli(['run']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing required argument 'pipeline'/);
  });

  it('exits 2 for an unwritable state directory', () => {
    const { file } = pipelineFile('pipeline: p\nsource:\n  type: generator\nsinks:\n  - type: discard\n');
    const r = cli(['run', file, '--once', '--state-dir', '/proc/self/status/state']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/state directory \/proc\/self\/status\/state is not writable/);
  });

  it('drains and commits on SIGTERM, and a restart continues without duplicates', async () => {
    const { dir, file } = pipelineFile(
      'pipeline: live\nsource:\n  type: generator\n  count: 0\n  rate: 4000\nsinks:\n  - type: jsonl\n    path: out.jsonl\ndelivery:\n  batchSize: 100\n',
    );
    const state = join(dir, 'state');
    const child = cliSpawn(['run', file, '--json', '--state-dir', state]);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const written = () => {
      try {
        return readFileSync(join(dir, 'out.jsonl'), 'utf8').length;
      } catch {
        return 0;
      }
    };
    for (let i = 0; i < 300 && written() < 150_000; i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(0);
    const s = lastJsonLine(out);
    expect(s.status).toBe('stopped');
    expect(s.eventsOut as number).toBeGreaterThanOrEqual(100);
    const first = readFileSync(join(dir, 'out.jsonl'), 'utf8').trimEnd().split('\n');
    expect(first).toHaveLength(s.eventsOut as number);
    // Restart with a bounded count: it continues after the committed position.
    writeFileSync(file, readFileSync(file, 'utf8').replace('count: 0', `count: ${first.length + 300}`).replace('rate: 4000', 'rate: 0'));
    const r2 = cli(['run', file, '--once', '--json', '--state-dir', state]);
    expect(lastJsonLine(r2.stdout).recordsIn).toBe(300);
    const all = readFileSync(join(dir, 'out.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l).eventId);
    expect(new Set(all).size).toBe(all.length);
  });

  it('serves Prometheus metrics while running', async () => {
    const { dir, file } = pipelineFile('pipeline: metered\nsource:\n  type: generator\n  count: 0\n  rate: 2000\nsinks:\n  - type: discard\n');
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = cliSpawn(['run', file, '--metrics-port', String(port), '--state-dir', join(dir, 'state')]);
    try {
      let body = '';
      for (let i = 0; i < 50 && !/stockbridge_events_out_total\{pipeline="metered"\} [1-9]/.test(body); i++) {
        await new Promise((r) => setTimeout(r, 200));
        body = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
      }
      expect(body).toMatch(/stockbridge_records_in_total\{pipeline="metered"\} [1-9]/);
      expect(body).toMatch(/stockbridge_events_out_total\{pipeline="metered"\} [1-9]/);
      expect(body).toMatch(/stockbridge_batch_latency_seconds_count\{pipeline="metered"\} [1-9]/);
      expect(body).toMatch(/stockbridge_process_resident_memory_bytes/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
  });
});

describe('stockbridge connectors / validate / schema', () => {
  it('lists every connector with its options', () => {
    const r = cli(['connectors']);
    expect(r.code).toBe(0);
    for (const name of ['generator', 'file', 'file-drop', 'jsonl', 'discard', 'select']) expect(r.stdout).toContain(`  ${name} `);
    expect(r.stdout).toMatch(/count: integer \(default 1000\)/);
  });

  it('docs/connectors.md is the generated reference (regenerate with `stockbridge connectors --markdown`)', () => {
    const r = cli(['connectors', '--markdown']);
    expect(readFileSync(join(ROOT, 'docs/connectors.md'), 'utf8')).toBe(r.stdout);
  });

  it('validates pipeline files and reports every broken one', () => {
    const good = pipelineFile('pipeline: ok\nsource:\n  type: generator\nsinks:\n  - type: discard\n').file;
    const bad = pipelineFile('pipeline: ok\nsource:\n  type: generator\n  speed: 3\nsinks:\n  - type: discard\n').file;
    const r = cli(['validate', good, bad]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`${good}: ok`);
    expect(r.stderr).toContain(`${bad}:4:3: unknown option 'speed' in source 'generator'`);
  });

  it('prints the pipeline schema for editors, including connector options', () => {
    const r = cli(['schema', 'pipeline']);
    const schema = JSON.parse(r.stdout);
    expect(schema.properties.source.properties.type.enum).toContain('file-drop');
    const gen = schema.properties.source.allOf.find((x: { if: { properties: { type: { const: string } } } }) => x.if.properties.type.const === 'generator');
    expect(gen.then.properties.count.default).toBe(1000);
  });
});
