import { describe, expect, it } from 'vitest';
import { JsonFormat, parseRecordPath } from '../../../runtime/formats/json.ts';
import { bytes, decode, expectChunkInvariant, expectResumeInvariant, FILE, offsetOf, values } from './helpers.ts';

const json = (recordPath?: string, more: Record<string, number> = {}) => new JsonFormat({ recordPath, ...more });

describe('json: recordPath', () => {
  it('parses paths', () => {
    expect(parseRecordPath('$')).toEqual([]);
    expect(parseRecordPath('$.items')).toEqual(['items']);
    expect(parseRecordPath('items.lines')).toEqual(['items', 'lines']);
    expect(parseRecordPath('$.orders[*].lines')).toEqual(['orders', null, 'lines']);
    expect(parseRecordPath(`$["odd key"]['x.y'].*`)).toEqual(['odd key', 'x.y', null]);
    expect(() => parseRecordPath('$.a..b')).toThrow(/invalid recordPath/);
    expect(() => parseRecordPath('$[0]')).toThrow(/invalid recordPath/);
  });
});

describe('json: records', () => {
  it('selects the elements of the array at recordPath, with exact offsets and lines', () => {
    const doc = '{"batch":"B1","items":[\n  {"sku":"A","qty":1},\n  {"sku":"Ö","qty":2}\n],"n":2}\n';
    const data = bytes(doc);
    const { records, state } = decode(json('$.items'), data);
    expect(records).toEqual([
      {
        value: { sku: 'A', qty: 1 },
        raw: '{"sku":"A","qty":1}',
        line: 2,
        offset: 26,
        end: 45,
        endLine: 2,
      },
      {
        value: { sku: 'Ö', qty: 2 },
        raw: '{"sku":"Ö","qty":2}',
        line: 3,
        offset: offsetOf(data, '{"sku":"Ö'),
        end: offsetOf(data, '{"sku":"Ö') + 20,
        endLine: 3,
      },
    ]);
    // The containers around the records, and where (offset, column) the last record ended.
    expect(state).toEqual({
      frames: [
        [1, 0, 0],
        [2, 1, 1],
      ],
      at: records[1].end,
      col: 22,
    });
  });

  it('takes the document itself for $, or each element of a root array', () => {
    expect(values(decode(json(), bytes('{"a":1}')).records)).toEqual([{ a: 1 }]);
    expect(values(decode(json(), bytes(' [1, "x", {"b":[2]}, null] ')).records)).toEqual([1, 'x', { b: [2] }, null]);
    const r = decode(json(), bytes('[10,20]')).records;
    expect(r.map((x) => [x.offset, x.end])).toEqual([
      [1, 3],
      [4, 6],
    ]);
  });

  it('follows nested paths and wildcards, ignoring everything else', () => {
    const doc = {
      meta: { items: [{ no: 1 }] },
      orders: [
        { id: 'o1', lines: [{ l: 1 }, { l: 2 }] },
        { id: 'o2', lines: [] },
        { id: 'o3', lines: { l: 3 } },
        { id: 'o4' },
      ],
    };
    const data = bytes(JSON.stringify(doc, null, 2));
    expect(values(decode(json('$.orders[*].lines'), data).records)).toEqual([{ l: 1 }, { l: 2 }, { l: 3 }]);
    expect(values(decode(json('orders.*.id'), data).records)).toEqual(['o1', 'o2', 'o3', 'o4']);
    expect(values(decode(json('$.missing'), data).records)).toEqual([]);
  });

  it('matches keys after unescaping them', () => {
    expect(values(decode(json('$["a\\"b"]'), bytes('{"x":[0],"a\\"b":[1,2]}')).records)).toEqual([1, 2]);
    expect(values(decode(json('$.é'), bytes('{"\\u00e9":[3]}')).records)).toEqual([3]);
  });

  it('decodes message payloads', () => {
    const recs = json('$.lines').decodeMessage('{"lines":[{"a":1},{"a":2}]}', 'mq:1');
    expect(values(recs)).toEqual([{ a: 1 }, { a: 2 }]);
    expect(recs[0]).toMatchObject({ offset: 10, end: 17, line: 1 });
  });
});

describe('json: broken input', () => {
  it('rejects a bad record with the error position and continues with the next', () => {
    const data = bytes('{"items":[\n{"a":1},\n  {"a":tru},\n{"a" 2},\n{"a":3}\n]}');
    const { records } = decode(json('$.items'), data);
    expect(values(records)).toEqual([
      { a: 1 },
      { error: 'invalid JSON at line 3, column 11: invalid literal (expected true), unexpected character "}"' },
      { error: `invalid JSON at line 4, column 6: expected ':' after the property name, unexpected character "2"` },
      { a: 3 },
    ]);
    expect(records[1].error).toEqual({
      stage: 'decode',
      reason: 'invalid JSON at line 3, column 11: invalid literal (expected true), unexpected character "}"',
      file: FILE,
      line: 3,
      column: 11,
      offset: offsetOf(data, '},\n{"a" 2'),
    });
    expect(records[1]).toMatchObject({ raw: '{"a":tru}', line: 3 });
  });

  it('rejects a record with invalid UTF-8', () => {
    const data = Buffer.concat([bytes('[{"a":"x'), Buffer.from([0xfe]), bytes('"},{"b":1}]')]);
    const { records } = decode(json(), data);
    expect(values(records)).toEqual([{ error: 'invalid UTF-8 byte 0xFE' }, { b: 1 }]);
    expect(records[0].error).toMatchObject({ line: 1, column: 9, offset: 8 });
  });

  it('a structural error outside records ends the document with one reject', () => {
    const { records, state } = decode(json('$.items'), bytes('{"items":[{"a":1},{"a":2}] "x":1, "items2":[]}'));
    expect(values(records)).toEqual([
      { a: 1 },
      { a: 2 },
      {
        error: `invalid JSON document at line 1, column 28: expected ',' or '}', found '"'; nothing after it is decoded`,
      },
    ]);
    expect(records[2]).toMatchObject({ offset: 27, end: 28, error: { offset: 27, column: 28 } });
    // Resuming at or after the failure decodes nothing more; before it, the same records and reject come back.
    expect(state).toEqual({
      frames: [
        [1, 0, 0],
        [2, 1, 1],
      ],
      at: 25,
      col: 26,
      failedAt: 28,
    });
  });

  it('a mismatched bracket inside a record ends the document', () => {
    expectResumeInvariant(json('$.items'), bytes('{"items":[{"a":1},{"a":2}] "x":1, "items2":[]}'));
    expectResumeInvariant(json(), bytes('[{"a":1},{"a":[1}, {"b":2}]'));
    const { records } = decode(json(), bytes('[{"a":1},{"a":[1}, {"b":2}]'));
    expect(values(records)).toEqual([
      { a: 1 },
      { error: `invalid JSON document at line 1, column 17: mismatched '}'; nothing after it is decoded` },
    ]);
    expect(records[1]).toMatchObject({ raw: '{"a":[1}', offset: 9, end: 17 });
  });

  it('reports a truncated document', () => {
    const { records } = decode(json('$.items'), bytes('{"items":[{"a":1},{"a":'));
    expect(values(records)).toEqual([
      { a: 1 },
      {
        error:
          'invalid JSON document at line 1, column 24: the document ends inside this record; nothing after it is decoded',
      },
    ]);
    expect(records[1]).toMatchObject({ raw: '{"a":', offset: 18, end: 23 });
    const outside = decode(json('$.items'), bytes('{"items":[{"a":1}]')).records;
    expect(values(outside)[1]).toEqual({
      error:
        'invalid JSON document at line 1, column 19: unexpected end of the document (1 container(s) still open); nothing after it is decoded',
    });
  });

  it('rejects data after the document and invalid literals outside records', () => {
    expect(values(decode(json(), bytes('{"a":1} {"b":2}')).records)).toEqual([
      { a: 1 },
      {
        error: `invalid JSON document at line 1, column 9: unexpected '{' after the end of the document; nothing after it is decoded`,
      },
    ]);
    expect(values(decode(json('$.x'), bytes('{"n":tru,"x":[1]}')).records)).toEqual([
      { error: 'invalid JSON document at line 1, column 9: invalid value "tru"; nothing after it is decoded' },
    ]);
  });

  it('enforces maxBytes and maxRecordBytes', () => {
    const big = bytes(`[${'1,'.repeat(100)}2]`);
    const recs = decode(json('$', { maxBytes: 21 }), big, 8).records;
    expect(recs.length).toBe(11);
    expect(recs.at(-1)!.error!.reason).toBe(
      'invalid JSON document at line 1, column 22: the document is larger than maxBytes (21 bytes); nothing after it is decoded',
    );
    const data = bytes(`[{"a":"${'x'.repeat(100)}"},{"b":1}]`);
    const r2 = expectChunkInvariant(json('$', { maxRecordBytes: 40 }), data, 50);
    expect(values(r2)).toEqual([{ error: 'record is longer than maxRecordBytes (40 bytes)' }, { b: 1 }]);
    expect(r2[0]).toMatchObject({ raw: `{"a":"${'x'.repeat(34)}`, offset: 1, end: 109 });
  });
});

describe('json: chunking and resume', () => {
  const data = bytes(
    '\uFEFF{\n  "header": {"store": "1042", "note": "a ] } \\" tricky"},\n  "items": [\n' +
      '    {"sku": "A", "qty": 1, "tags": ["x", {"y": null}]},\n    {"sku": "日本", "qty": -2.5e3},\n' +
      '    "scalar",\n    12.5 ,\n    {"bad": }, true,\n    {"sku": "😀"}\n  ],\n  "trailer": [1, 2]\n}\n',
  );

  it('decodes the same records for every chunk size', () => {
    const recs = expectChunkInvariant(json('$.items'), data);
    expect(values(recs)).toEqual([
      { sku: 'A', qty: 1, tags: ['x', { y: null }] },
      { sku: '日本', qty: -2500 },
      'scalar',
      12.5,
      { error: 'invalid JSON at line 8, column 13: unexpected character "}"' },
      true,
      { sku: '😀' },
    ]);
    expect(recs.map((r) => r.line)).toEqual([4, 5, 6, 7, 8, 8, 9]);
    expect(recs[3]).toMatchObject({ raw: '12.5', end: recs[3].offset + 4 });
  });

  it('resumes after every record with exactly the records that follow', () => {
    expectResumeInvariant(json('$.items'), data, [Number.POSITIVE_INFINITY, 3]);
    expectResumeInvariant(json('$'), bytes('[1, {"a":[2]}, "x"]'));
    expectResumeInvariant(json('$'), bytes('{"only":1}\n'));
    expectResumeInvariant(json('orders[*].lines'), bytes('{"orders":[{"lines":[1,2]},{"id":3,"lines":[4]}],"z":0}'));
    // A wildcard whose matches have different shapes (scalars, arrays that are flattened, objects).
    expectResumeInvariant(json('$.*'), bytes('[1, [2, 3], {"a": 4}, [5], "x"]'));
  });

  it('keeps error columns exact after a mid-line resume with the state of that record', () => {
    const doc = bytes('[{"a":1}, {"b":x}]');
    const first = decode(json(), doc, 9).records;
    const d = json().streamDecoder({ file: FILE, offset: 0, line: 1 });
    d.push(doc.subarray(0, 9));
    const state = d.resumeState();
    expect(state).toEqual({ frames: [[2, 1, 0]], at: 8, col: 9 });
    const rest = decode(json(), doc.subarray(8), Number.POSITIVE_INFINITY, {
      offset: 8,
      line: 1,
      resume: state,
    }).records;
    expect(rest).toEqual(first.slice(1));
    expect(rest[0].error).toMatchObject({ column: 16, offset: 15 });
    // Without the matching column (state from another record), the column is left out rather than wrong.
    const other = { ...(state as object), at: 3 };
    const blind = decode(json(), doc.subarray(8), Number.POSITIVE_INFINITY, {
      offset: 8,
      line: 1,
      resume: other,
    }).records;
    expect(blind[0].error).toMatchObject({ reason: 'invalid JSON at line 1: unexpected character "x"', offset: 15 });
    expect(blind[0].error!.column).toBeUndefined();
  });

  it('refuses to resume mid-document without state', () => {
    expect(() => json().streamDecoder({ file: FILE, offset: 5, line: 1 })).toThrow(/without the resume state/);
  });
});
