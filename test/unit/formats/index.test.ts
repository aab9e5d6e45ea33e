import { describe, expect, it } from 'vitest';
import { ConfigError, type FormatSpec } from '../../../runtime/contracts/spi.ts';
import { bindFormat, FORMATS, formatSpec, registerFormat } from '../../../runtime/formats/index.ts';

const BUILT_IN = ['csv', 'jsonl', 'json', 'xml', 'fixed-width'];

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('format registry', () => {
  it('lists the built-in formats once each', () => {
    const names = FORMATS.map((f) => f.name);
    for (const n of BUILT_IN) expect(names.filter((x) => x === n)).toEqual([n]);
    expect(new Set(names).size).toBe(names.length);
    expect(formatSpec('csv')?.name).toBe('csv');
    expect(formatSpec('nope')).toBeUndefined();
  });

  it('describes every option of the built-in formats, with valid defaults', () => {
    for (const name of BUILT_IN) {
      const spec = formatSpec(name)!;
      expect(spec.summary.length).toBeGreaterThan(10);
      expect(spec.options).toMatchObject({ type: 'object', additionalProperties: false });
      const props = spec.options.properties as Record<string, Record<string, unknown>>;
      for (const [key, p] of Object.entries(props)) {
        expect([name, key, typeof p.description]).toEqual([name, key, 'string']);
      }
    }
  });

  it('binds with defaults filled in, without touching the caller’s object, ignoring a format key', () => {
    const opts = { format: 'csv', delimiter: ';' };
    const f = bindFormat('csv', opts, '/tmp');
    expect(opts).toEqual({ format: 'csv', delimiter: ';' });
    expect(f.name).toBe('csv');
    expect(f.decodeMessage('a;b\n1;2', 'm')[0].value).toEqual({ a: '1', b: '2' });
    expect(bindFormat('jsonl', undefined, '/tmp').name).toBe('jsonl');
  });

  it('reports invalid options as ConfigError with the option path and the reason', () => {
    expect(configError(() => bindFormat('csv', { delimeter: ';' }, '.')).message).toBe(
      "csv: unknown option 'delimeter'",
    );
    expect(configError(() => bindFormat('csv', { delimiter: ';;' }, '.')).message).toBe(
      "csv option 'delimiter' must NOT have more than 1 characters",
    );
    expect(configError(() => bindFormat('csv', { encoding: 'utf-16' }, '.')).message).toMatch(
      /^csv option 'encoding' must be one of: "utf-8", .*"windows-1252"/,
    );
    expect(configError(() => bindFormat('csv', { headerAliases: { store: 'STORE' } }, '.')).message).toBe(
      "csv option 'headerAliases.store' must be array",
    );
    expect(configError(() => bindFormat('xml', {}, '.')).message).toBe("xml: missing required option 'recordPath'");
    expect(
      configError(() =>
        bindFormat(
          'fixed-width',
          {
            columns: [
              { name: 'a', width: 2 },
              { name: 'b', length: 0 },
            ],
          },
          '.',
        ),
      ).message,
    ).toBe("fixed-width option 'columns.1.length' must be >= 1");
    expect(configError(() => bindFormat('json', { maxBytes: 'big' }, '.')).message).toBe(
      "json option 'maxBytes' must be integer",
    );
  });

  it('turns errors found while binding into ConfigError', () => {
    expect(configError(() => bindFormat('csv', { header: false }, '.')).message).toBe(
      'csv: header is false, so columns must name the fields',
    );
    expect(configError(() => bindFormat('csv', { delimiter: ';', quote: ';' }, '.')).message).toBe(
      'csv: options delimiter and quote must differ',
    );
    expect(configError(() => bindFormat('json', { recordPath: '$..x' }, '.')).message).toMatch(
      /^json: invalid recordPath/,
    );
    expect(configError(() => bindFormat('xml', { recordPath: '/Orders/*' }, '.')).message).toBe(
      "xml: invalid recordPath '/Orders/*': the record element must be named, not *",
    );
    expect(configError(() => bindFormat('nope', {}, '.')).message).toMatch(
      /^unknown input format 'nope' \(known: csv, /,
    );
  });

  it('accepts plug-in formats and refuses duplicates', () => {
    const spec: FormatSpec = {
      name: 'test-plugin',
      summary: 'A test plug-in format.',
      options: { type: 'object', additionalProperties: false, properties: { n: { type: 'integer', default: 3 } } },
      bind(options) {
        return {
          name: 'test-plugin',
          streamDecoder() {
            throw new Error('unused');
          },
          decodeMessage: (payload) => [{ value: { n: options.n, payload }, raw: '', offset: 0, end: 0 }],
        };
      },
    };
    registerFormat(spec);
    try {
      expect(bindFormat('test-plugin', {}, '.').decodeMessage('x', 'r')[0].value).toEqual({ n: 3, payload: 'x' });
      expect(() => registerFormat(spec)).toThrow(/already registered/);
    } finally {
      FORMATS.splice(FORMATS.indexOf(spec), 1);
    }
  });
});
