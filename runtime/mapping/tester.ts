/**
 * `stockbridge mapping test <mapping.yaml>`: runs the test cases declared beside a mapping (`tests:` inline, or a
 * YAML file holding a list of them) and reports a readable difference for every failing one.
 *
 * A test case gives its input as raw text in the mapping's input format (`input:`), a file (`inputFile:`) or
 * already-decoded records (`records:`), and says what must come out: `expect:` the events in order (only the fields
 * given are compared, `source.receivedAt` never; `exact: true` compares every field but receivedAt, and eventId
 * only when the expectation gives one), `rejects:` the rejected
 * records in order (record number or line, a part of the reason, the field), `filtered:` how many were filtered.
 * Without `rejects:` no record may be rejected.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import type { InventoryEvent } from '../contracts/event.ts';
import type { MapContext } from '../contracts/mapping.ts';
import { ConfigError, type DecodedRecord, type RecordError, type SourceRecord } from '../contracts/spi.ts';
import { type LoadedMapping, loadMapping, validateTestsDoc } from './compile.ts';
import { Dec } from './decimal.ts';
import { describeReject } from './run-file.ts';
import { isScalar, isSeq, YamlDoc } from './yaml.ts';

export interface TestDoc {
  name: string;
  input?: string;
  inputFile?: string;
  records?: unknown[];
  meta?: Record<string, unknown>;
  expect?: Array<Record<string, unknown>>;
  exact?: boolean;
  rejects?: Array<{ record?: number; line?: number; reason?: string; field?: string }>;
  filtered?: number;
}

export interface TestCase {
  doc: TestDoc;
  /** File declaring the test, and the test's line there. */
  file: string;
  line: number | undefined;
  /** Directory inputFile: resolves from. */
  baseDir: string;
}

export interface TestOutcome {
  name: string;
  file: string;
  line: number | undefined;
  passed: boolean;
  problems: string[];
  events: number;
  rejects: number;
  filtered: number;
}

interface Produced {
  events: Array<{ e: InventoryEvent; record: number; line?: number }>;
  rejects: Array<{ r: RecordError; record: number; line?: number }>;
  filtered: number;
  records: number;
}

const CTX: MapContext = { receivedAt: '2000-01-01T00:00:00.000Z', connector: 'test' };

/** The test cases of a mapping ([] when it declares none). */
export function loadTests(m: LoadedMapping): TestCase[] {
  const node = m.yaml.node(['tests']);
  if (node === undefined) return [];
  if (isScalar(node) && typeof node.value === 'string') {
    const file = resolve(m.baseDir, node.value);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw m.yaml.error(node, `tests: cannot read ${node.value} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const shown = relative(process.cwd(), file) || file;
    const y = new YamlDoc(shown, text);
    validateTestsDoc(y);
    const list = y.toJS() as TestDoc[];
    const seq = y.node([]);
    return list.map((doc, i) => ({
      doc,
      file: shown,
      line: isSeq(seq) ? lineOf(y, seq.items[i]) : undefined,
      baseDir: dirname(file),
    }));
  }
  const list = (m.yaml.toJS() as { tests: TestDoc[] }).tests;
  return list.map((doc, i) => ({
    doc,
    file: m.file,
    line: isSeq(node) ? lineOf(m.yaml, node.items[i]) : undefined,
    baseDir: m.baseDir,
  }));
}

function lineOf(y: YamlDoc, n: unknown): number | undefined {
  const r = (n as { range?: [number, number, number] } | undefined)?.range;
  return r ? y.position(r[0]).line : undefined;
}

async function produce(m: LoadedMapping, t: TestCase): Promise<Produced> {
  const d = t.doc;
  const given = [d.input !== undefined, d.inputFile !== undefined, d.records !== undefined].filter(Boolean).length;
  if (given !== 1) throw new Error('give exactly one of input:, inputFile: or records:');
  const p: Produced = { events: [], rejects: [], filtered: 0, records: 0 };
  const out: InventoryEvent[] = [];
  const run = (rec: SourceRecord, value: unknown, line: number | undefined) => {
    const record = ++p.records;
    out.length = 0;
    const o = m.map(rec, value, out, CTX);
    if (typeof o === 'object') p.rejects.push({ r: o, record, line });
    else if (o === 1) p.filtered++;
    for (const e of out) p.events.push({ e, record, line });
  };
  if (d.records !== undefined) {
    d.records.forEach((value, i) => {
      run({ ref: `records:${i + 1}`, value, meta: d.meta ?? { file: 'records' } }, value, undefined);
    });
    return p;
  }
  const name = d.inputFile !== undefined ? basename(d.inputFile) : 'input';
  const meta = d.meta ?? { file: name };
  const handle = (recs: DecodedRecord[]) => {
    for (const r of recs) {
      if (r.error) {
        p.rejects.push({ r: r.error, record: ++p.records, line: r.line });
        continue;
      }
      const ref = r.line !== undefined ? `${name}:${r.line}` : `${name}@${r.offset}`;
      run({ ref, value: r.value, payload: r.raw, meta }, r.value, r.line);
    }
  };
  const dec = m.format.streamDecoder({ file: name, offset: 0, line: 1 });
  if (d.input !== undefined) handle(dec.push(Buffer.from(d.input, 'utf8')));
  else
    for await (const chunk of createReadStream(resolve(t.baseDir, d.inputFile!))) handle(dec.push(chunk as Uint8Array));
  handle(dec.end());
  return p;
}

const json = (v: unknown) => JSON.stringify(v);

function sameScalar(expected: unknown, actual: unknown): boolean {
  if ((expected === null || expected === undefined) && (actual === null || actual === undefined)) return true;
  if (typeof expected === 'number' && typeof actual === 'string') {
    // YAML reads `quantity: -1.000` as a number: compare as numbers
    const a = Dec.parse(actual);
    const b = Dec.ofNumber(expected);
    return a !== null && b !== null && Dec.cmp(a, b) === 0;
  }
  return expected === actual;
}

/** Field-level differences of an expected (partial, unless exact) value against the actual one. */
export function differences(expected: unknown, actual: unknown, exact: boolean, path = ''): string[] {
  if (path === 'source.receivedAt') return [];
  const out: string[] = [];
  const at = path || 'value';
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      out.push(`${at}: expected ${json(expected)}, got ${json(actual ?? null)}`);
      return out;
    }
    const a = actual as Record<string, unknown>;
    for (const [k, v] of Object.entries(expected)) out.push(...differences(v, a[k], exact, path ? `${path}.${k}` : k));
    if (exact)
      for (const [k, v] of Object.entries(a)) {
        const p = path ? `${path}.${k}` : k;
        if (
          !(k in (expected as object)) &&
          v !== null &&
          v !== undefined &&
          p !== 'source.receivedAt' &&
          p !== 'eventId'
        )
          out.push(`${p}: not expected, got ${json(v)}`);
      }
    return out;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      out.push(`${at}: expected ${json(expected)}, got ${json(actual ?? null)}`);
      return out;
    }
    expected.forEach((x, i) => {
      out.push(...differences(x, actual[i], exact, `${at}[${i}]`));
    });
    return out;
  }
  if (!sameScalar(expected, actual)) out.push(`${at}: expected ${json(expected)}, got ${json(actual ?? null)}`);
  return out;
}

function where(record: number, line: number | undefined): string {
  return line !== undefined ? `record ${record}, line ${line}` : `record ${record}`;
}

export async function runTest(m: LoadedMapping, t: TestCase): Promise<TestOutcome> {
  const d = t.doc;
  const res: TestOutcome = {
    name: d.name,
    file: t.file,
    line: t.line,
    passed: false,
    problems: [],
    events: 0,
    rejects: 0,
    filtered: 0,
  };
  let p: Produced;
  try {
    p = await produce(m, t);
  } catch (e) {
    res.problems.push(e instanceof Error ? e.message : String(e));
    return res;
  }
  res.events = p.events.length;
  res.rejects = p.rejects.length;
  res.filtered = p.filtered;
  const problems = res.problems;
  const expect = d.expect ?? [];
  const n = Math.max(expect.length, p.events.length);
  for (let i = 0; i < n; i++) {
    const exp = expect[i];
    const got = p.events[i];
    if (exp === undefined) {
      problems.push(`unexpected event ${i + 1} (${where(got.record, got.line)}): ${json(got.e)}`);
      continue;
    }
    if (got === undefined) {
      problems.push(`missing event ${i + 1}: expected ${json(exp)}`);
      continue;
    }
    const diffs = differences(exp, got.e, d.exact === true);
    for (const x of diffs) problems.push(`event ${i + 1} (${where(got.record, got.line)}): ${x}`);
  }
  const rejects = d.rejects ?? [];
  const nr = Math.max(rejects.length, p.rejects.length);
  for (let i = 0; i < nr; i++) {
    const exp = rejects[i];
    const got = p.rejects[i];
    const shown = got ? describeReject(got.r) : '';
    if (exp === undefined) {
      problems.push(`unexpected reject (${where(got.record, got.line)}): ${shown}`);
      continue;
    }
    if (got === undefined) {
      problems.push(`missing reject ${i + 1}: expected ${json(exp)}`);
      continue;
    }
    const bad: string[] = [];
    if (exp.record !== undefined && exp.record !== got.record) bad.push(`record ${got.record}, expected ${exp.record}`);
    if (exp.line !== undefined && exp.line !== got.line) bad.push(`line ${got.line ?? '?'}, expected ${exp.line}`);
    if (exp.reason !== undefined && !got.r.reason.includes(exp.reason))
      bad.push(`reason ${json(got.r.reason)} does not contain ${json(exp.reason)}`);
    if (exp.field !== undefined && exp.field !== got.r.field)
      bad.push(`field ${json(got.r.field ?? null)}, expected ${json(exp.field)}`);
    if (bad.length) problems.push(`reject ${i + 1} (${where(got.record, got.line)}: ${shown}): ${bad.join('; ')}`);
  }
  if (d.filtered !== undefined && d.filtered !== p.filtered)
    problems.push(`filtered: expected ${d.filtered}, got ${p.filtered}`);
  res.passed = problems.length === 0;
  return res;
}

export async function runTests(m: LoadedMapping): Promise<TestOutcome[]> {
  const out: TestOutcome[] = [];
  for (const t of loadTests(m)) out.push(await runTest(m, t));
  return out;
}

export interface TestCommandOptions {
  stdout?: Writable;
  stderr?: Writable;
}

/** The command: returns the exit code (0 all passed, 1 failures or no tests, 2 invalid mapping or test file). */
export async function testMappingFile(path: string, opts: TestCommandOptions = {}): Promise<number> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  let results: TestOutcome[];
  try {
    const m = await loadMapping(path, { verify: true });
    results = await runTests(m);
  } catch (e) {
    if (e instanceof ConfigError) {
      stderr.write(`${e.toString()}\n`);
      return 2;
    }
    throw e;
  }
  if (results.length === 0) {
    stderr.write(`${path}: no tests declared (add tests: to the mapping)\n`);
    return 1;
  }
  const failed = results.filter((r) => !r.passed);
  for (const r of failed) {
    stdout.write(`FAIL ${r.name} (${r.file}${r.line ? `:${r.line}` : ''})\n`);
    for (const p of r.problems) stdout.write(`     ${p}\n`);
  }
  const sum = (k: 'events' | 'rejects' | 'filtered') => results.reduce((a, r) => a + r[k], 0);
  if (failed.length)
    stdout.write(`${path}: ${failed.length} of ${results.length} test${results.length > 1 ? 's' : ''} failed\n`);
  else
    stdout.write(
      `${path}: ${results.length} test${results.length > 1 ? 's' : ''} passed (${sum('events')} events, ${sum('rejects')} rejects, ${sum('filtered')} filtered)\n`,
    );
  return failed.length ? 1 : 0;
}
