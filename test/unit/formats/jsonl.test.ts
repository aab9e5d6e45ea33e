import { describe, expect, it } from 'vitest';
import { jsonSyntaxError } from '../../../runtime/formats/json-syntax.ts';
import { JsonlFormat } from '../../../runtime/formats/jsonl.ts';
import { bytes, decode, expectChunkInvariant, expectResumeInvariant, FILE, offsetOf, values } from './helpers.ts';

const jsonl = (max?: number) => new JsonlFormat({ maxRecordBytes: max });

describe('jsonl', () => {
  it('decodes one value per line with exact offsets, skipping blank lines', () => {
    const data = bytes('{"sku":"A","qty":1}\n\n   \r\n[1,2]\r\n"é"\n42');
    const { records, state } = decode(jsonl(), data);
    expect(records).toEqual([
      { value: { sku: 'A', qty: 1 }, raw: '{"sku":"A","qty":1}', line: 1, offset: 0, end: 20, endLine: 2 },
      { value: [1, 2], raw: '[1,2]', line: 4, offset: 26, end: 33, endLine: 5 },
      { value: 'é', raw: '"é"', line: 5, offset: 33, end: 38, endLine: 6 },
      { value: 42, raw: '42', line: 6, offset: 38, end: 40, endLine: 6 },
    ]);
    expect(state).toBeNull();
  });

  it('skips a UTF-8 BOM', () => {
    const { records } = decode(jsonl(), bytes('\uFEFF{"a":1}\n'));
    expect(records[0]).toMatchObject({ value: { a: 1 }, offset: 3, end: 11 });
  });

  it('rejects invalid JSON with the position of the error and continues', () => {
    const data = bytes('{"a":1}\n{"a":x}\n{"é":1,}\n{"a":"open\n{"b":2}\n');
    const { records } = decode(jsonl(), data);
    expect(values(records)).toEqual([
      { a: 1 },
      { error: 'invalid JSON at line 2, column 6: unexpected character "x"' },
      { error: `invalid JSON at line 3, column 8: expected a double-quoted property name, unexpected character "}"` },
      { error: 'invalid JSON at line 4, column 11: unterminated string' },
      { b: 2 },
    ]);
    expect(records[1].error).toEqual({
      stage: 'decode',
      reason: 'invalid JSON at line 2, column 6: unexpected character "x"',
      file: FILE,
      line: 2,
      column: 6,
      offset: 13,
    });
    // Byte offset of the error counts the 2-byte é.
    expect(records[2].error).toMatchObject({ column: 8, offset: offsetOf(data, '}', 2) });
    expect(records[3]).toMatchObject({ raw: '{"a":"open', line: 4, endLine: 5 });
  });

  it('rejects invalid UTF-8 with line and column', () => {
    const data = Buffer.concat([bytes('{"a":1}\n{"b":"é'), Buffer.from([0xff]), bytes('"}\n{"c":3}\n')]);
    const { records } = decode(jsonl(), data);
    expect(values(records)).toEqual([{ a: 1 }, { error: 'invalid UTF-8 byte 0xFF' }, { c: 3 }]);
    expect(records[1].error).toMatchObject({ line: 2, column: 8, offset: offsetOf(data, [0xff]) });
    expect(records[1].raw).toBeInstanceOf(Uint8Array);
  });

  it('rejects an over-long line and resumes on the next one', () => {
    const data = bytes(`{"a":1}\n{"long":"${'x'.repeat(500)}"}\n{"b":2}\n`);
    const recs = expectChunkInvariant(jsonl(64), data, 80);
    expect(values(recs)).toEqual([{ a: 1 }, { error: 'line is longer than maxRecordBytes (64 bytes)' }, { b: 2 }]);
    expect(recs[1]).toMatchObject({ line: 2, offset: 8, end: offsetOf(data, '{"b"'), endLine: 3 });
  });

  it('is chunk-size invariant and resumes after every record', () => {
    const data = Buffer.concat([
      bytes('\uFEFF{"s":"😀","n":1}\r\n\n{"bad":}\n'),
      bytes('{"x":"日本"}\n'),
      Buffer.from([0xc3, 0x0a]),
      bytes('  {"y": [1, {"z": null}]}  \n{"t":true}'),
    ]);
    const recs = expectChunkInvariant(jsonl(), data);
    expect(recs.map((r) => r.line)).toEqual([1, 3, 4, 5, 6, 7]);
    expectResumeInvariant(jsonl(), data);
  });

  it('decodes message payloads (several lines per message)', () => {
    const recs = jsonl().decodeMessage('{"a":1}\n{"a":2}\n', 'topic/0/7');
    expect(values(recs)).toEqual([{ a: 1 }, { a: 2 }]);
    expect(jsonl().decodeMessage(bytes('nope'), 'm')[0].error).toMatchObject({
      file: 'm',
      line: 1,
      column: 2,
      reason: 'invalid JSON at line 1, column 2: invalid literal (expected null), unexpected character "o"',
    });
  });
});

describe('jsonSyntaxError', () => {
  it('accepts valid JSON', () => {
    for (const t of ['0', '-1.5e+3', '"a\\u00e9\\n"', '[]', '{}', ' {"a":[1,{"b":null}],"c":true} ', '[[[[]]]]'])
      expect(jsonSyntaxError(t)).toBeNull();
  });

  it('locates errors', () => {
    const cases: Array<[string, number, string]> = [
      ['', 0, 'unexpected end of input'],
      ['{"a":1,}', 7, 'expected a double-quoted property name, unexpected character "}"'],
      ['[1 2]', 3, "expected ',' or ']', unexpected character \"2\""],
      ['{"a" 1}', 5, 'expected \':\' after the property name, unexpected character "1"'],
      ['01', 1, 'unexpected character "1" after the JSON value'],
      ['1.', 2, 'invalid number: unexpected end of input'],
      ['"\\x"', 1, 'invalid escape'],
      ['"a\tb"', 2, 'control character in string (must be escaped)'],
      ['tru', 3, 'invalid literal (expected true), unexpected end of input'],
      ['{"a":1', 6, "expected ',' or '}', unexpected end of input"],
      ["{'a':1}", 1, 'expected a double-quoted property name, unexpected character "\'"'],
    ];
    for (const [text, index, message] of cases)
      expect([text, jsonSyntaxError(text)]).toEqual([text, { index, message }]);
    // Agrees with JSON.parse on what is valid.
    for (const [text] of cases) expect(() => JSON.parse(text)).toThrow();
  });

  it('handles deep nesting without recursion', () => {
    expect(jsonSyntaxError(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toBeNull();
    expect(jsonSyntaxError(`${'['.repeat(100_000)}`)).toEqual({ index: 100_000, message: 'unexpected end of input' });
  });
});
