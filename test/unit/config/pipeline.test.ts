import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../../connectors/index.ts';
import { loadPipeline } from '../../../runtime/config/pipeline.ts';
import { ConfigError } from '../../../runtime/contracts/spi.ts';

const dir = mkdtempSync(join(tmpdir(), 'sb-config-'));
let n = 0;
function file(text: string): string {
  const f = join(dir, `p${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}
function error(text: string, env: NodeJS.ProcessEnv = {}): string {
  const f = file(text);
  try {
    loadPipeline(f, builtinRegistry(), env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).toString().replace(f, 'FILE');
  }
  throw new Error('expected a ConfigError');
}

const ok = `pipeline: demo
source:
  type: generator
  count: 10
sinks:
  - type: discard
`;

describe('pipeline files', () => {
  it('loads a valid file and fills defaults', () => {
    const cfg = loadPipeline(file(ok), builtinRegistry(), {});
    expect(cfg.name).toBe('demo');
    expect(cfg.mapping).toBe('identity');
    expect(cfg.source.options).toMatchObject({ count: 10, rate: 0, seed: 1, shape: 'event' });
    expect(cfg.delivery.batchSize).toBe(1000);
    expect(cfg.delivery.retry.maxDelayMs).toBe(30_000);
    expect(cfg.sinks.map((s) => s.name)).toEqual(['discard']);
  });

  it('reports malformed YAML with line and column', () => {
    expect(error('pipeline: demo\nsource:\n  type: generator\n   count: 1\nsinks: []\n')).toMatch(/^FILE:\d+:\d+: \S/);
    expect(error('pipeline: demo\nsource: {type: generator\n')).toMatch(/^FILE:\d+:\d+: /);
  });

  it('reports an unknown connector at its type: line, naming the known ones', () => {
    expect(error('pipeline: demo\nsource:\n  type: ftp\nsinks:\n  - type: discard\n')).toMatch(
      /^FILE:3:9: unknown source connector 'ftp' \(known: (\S+, )*file, file-drop, generator(, \S+)*\)$/,
    );
  });

  it('reports an unknown, missing or mistyped option where it is', () => {
    expect(error('pipeline: demo\nsource:\n  type: generator\n  cuont: 5\nsinks:\n  - type: discard\n')).toBe(
      "FILE:4:3: unknown option 'cuont' in source 'generator'",
    );
    expect(error('pipeline: demo\nsource:\n  type: file\nsinks:\n  - type: discard\n')).toBe(
      "FILE:3:3: missing required option 'path' in source 'file'",
    );
    expect(error('pipeline: demo\nsource:\n  type: generator\n  count: lots\nsinks:\n  - type: discard\n')).toBe(
      'FILE:4:10: source.count must be integer',
    );
    expect(error('pipeline: demo\nsource:\n  type: generator\nsinks:\n  - type: jsonl\n    path: x\n    fsync: sometimes\n')).toBe(
      'FILE:7:12: sinks.0.fsync must be boolean',
    );
    expect(error('pipeline: demo\nsource:\n  type: generator\nsinks: []\n')).toMatch(/^FILE:4:8: sinks must NOT have fewer than 1 items/);
    expect(error('pipeline: demo\nsourse:\n  type: generator\n')).toMatch(/^FILE:2:1: unknown option 'sourse' in the pipeline/);
  });

  it('substitutes ${env:…} and ${file:…}; an unset variable is an error at its place', () => {
    const secret = join(dir, 'secret.txt');
    writeFileSync(secret, 's3cr3t-value\n');
    const f = file(`pipeline: demo
source:
  type: generator
  system: "\${env:SYSTEM}"
sinks:
  - type: jsonl
    path: "out/\${file:${secret}}.jsonl"
`);
    const cfg = loadPipeline(f, builtinRegistry(), { SYSTEM: 'pos' });
    expect(cfg.source.options.system).toBe('pos');
    expect(cfg.sinks[0].options.path).toBe('out/s3cr3t-value.jsonl');
    expect(error('pipeline: demo\nsource:\n  type: generator\n  system: ${env:NOPE}\nsinks:\n  - type: discard\n')).toBe(
      'FILE:4:11: environment variable NOPE is not set (referenced as ${env:NOPE})',
    );
    const esc = loadPipeline(file('pipeline: demo\nsource:\n  type: generator\n  system: "$${env:X}"\nsinks:\n  - type: discard\n'), builtinRegistry(), {});
    expect(esc.source.options.system).toBe('${env:X}');
  });

  it('reports a missing mapping file at the mapping: line', () => {
    expect(error('pipeline: demo\nsource:\n  type: generator\nmapping: nope.yaml\nsinks:\n  - type: discard\n')).toMatch(
      /^FILE:4:10: mapping file .*nope\.yaml not found$/,
    );
  });

  it('rejects two sinks with the same name', () => {
    expect(error('pipeline: demo\nsource:\n  type: generator\nsinks:\n  - type: discard\n  - type: discard\n')).toMatch(
      /^FILE:6:5: two sinks are named 'discard'/,
    );
  });
});
