/**
 * Expressions cannot reach the process, files, network, globals or prototypes: escape attempts either do not compile
 * or evaluate to nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../../runtime/mapping/expr.ts';
import { ExprError } from '../../../runtime/mapping/parser.ts';
import { ev } from './helpers.ts';

function compileError(src: string): string {
  try {
    compileExpression(src, { tables: new Map(), units: null, lets: new Map(), item: false });
  } catch (e) {
    if (e instanceof ExprError) return e.message;
    throw e;
  }
  return '';
}

describe('escape attempts', () => {
  it.each([
    ["constructor.constructor('return process')()", 'only named functions can be called'],
    ['constructor', "'constructor' cannot be used as a field name (it is reserved)"],
    ['__proto__', "'__proto__' cannot be used as a field name (it is reserved)"],
    ['a.__proto__.polluted', "'__proto__' cannot be used as a field name (it is reserved)"],
    ["a['__proto__']", "'__proto__' cannot be used as a field name (it is reserved)"],
    ["a['proto' & 'type']", "'prototype' cannot be used as a field name (it is reserved)"],
    ['`constructor`', "'constructor' cannot be used as a field name (it is reserved)"],
    ["$meta['constructor']", "'constructor' cannot be used as a field name (it is reserved)"],
    ["split('a', 'b').constructor", "'constructor' cannot be used as a field name (it is reserved)"],
    ['process.exit(1)', 'only named functions can be called'],
    ["process.mainModule.require('fs')", 'only named functions can be called'],
    ["require('child_process')", 'unknown function require(); see docs/mapping-language.md for the list'],
    ["eval('1')", 'unknown function eval(); see docs/mapping-language.md for the list'],
    ["Function('return this')()", 'only named functions can be called'],
    ["import('fs')", 'unknown function import(); see docs/mapping-language.md for the list'],
    ['fetch(url)', 'unknown function fetch(); see docs/mapping-language.md for the list'],
    ['setTimeout(x, 1)', 'unknown function setTimeout(); see docs/mapping-language.md for the list'],
    ['toString()', 'unknown function toString(); see docs/mapping-language.md for the list'],
    ['hasOwnProperty(x)', 'unknown function hasOwnProperty(); see docs/mapping-language.md for the list'],
    ['(upper)(x)', 'only named functions can be called'],
    ['$meta()', '$meta is not a function'],
    ['x => x', "'=' is not an operator: compare with '=='"],
    ['a; b', 'unexpected character ";"'],
  ])('%s does not compile', (src, message) => {
    expect(compileError(src)).toBe(message);
  });

  it.each([
    'this',
    'globalThis',
    'process',
    'window',
    'global',
    'module',
    'require',
    'toString',
    'valueOf',
    'hasOwnProperty',
    'lines.map',
    'lines.length',
    'lines.push',
    'name.length',
    'name.toUpperCase',
    "decimal('12.5').m",
    "decimal('12.5')['s']",
    "parseIso('2024-01-01T00:00:00Z').length",
    "split('a-b', '-').join",
    "lookup['x']",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a back-quoted field name, not a JS template
    '`${process.env}`',
  ])('%s evaluates to nothing', (src) => {
    const v = ev(src, { name: 'abc', lines: [1, 2] });
    expect(v === undefined || v === null).toBe(true);
  });

  it('computed keys that name prototype members read as missing', () => {
    for (const k of ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', '__defineGetter__']) {
      expect(ev('a[k]', { a: {}, k }), k).toBeUndefined();
      expect(ev('l[k]', { l: [1], k }), k).toBeUndefined();
    }
  });

  it('fields named like prototype members are read as data when the record has them', () => {
    expect(ev('toString', { toString: 'column value' })).toBe('column value');
    expect(ev('r.valueOf', { r: { valueOf: 'v' } })).toBe('v');
    expect(ev('a[k]', { a: { constructor: 'c' }, k: 'constructor' })).toBeUndefined();
  });

  it('a record carrying __proto__ (JSON.parse makes it an own key) pollutes nothing', () => {
    const value = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": {"__proto__": {"polluted": "yes"}}}');
    expect(ev('a.polluted', value)).toBeUndefined();
    expect(ev('polluted', value)).toBeUndefined();
    expect(ev('a[k].polluted', { ...value, k: '__proto__' })).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('no expression yields a function or a host object', () => {
    const value = { a: { b: [1, { c: 'x' }] }, s: 'text', n: 1 };
    const exprs = [
      'a',
      'a.b',
      'a.b[1]',
      'split(s, "e")',
      's',
      '[a, s]',
      'a.b[k]',
      'lookupless',
      '$',
      '$meta',
      '$record.meta',
    ];
    for (const e of exprs) {
      const v = ev(e, { ...value, k: 'map' }, { meta: { m: 1 } });
      expect(typeof v, e).not.toBe('function');
      if (v !== null && typeof v === 'object' && !Array.isArray(v))
        expect(Object.getPrototypeOf(v), e).toBe(Object.prototype);
    }
  });

  it('deep nesting is refused instead of overflowing the stack', () => {
    const deep = `${'('.repeat(5000)}1${')'.repeat(5000)}`;
    expect(compileError(deep)).toBe('expression nested too deeply');
  });

  it('the mapping runtime never evaluates text as code', () => {
    const dir = join(import.meta.dirname, '../../../runtime/mapping');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
      const src = readFileSync(join(dir, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(src, f).not.toMatch(/\beval\s*\(|new\s+Function\s*\(|\bFunction\s*\(|\bvm\b|require\s*\(/);
    }
  });
});
