/**
 * The input-format registry. A format is a FormatSpec (name, summary, JSON Schema of its options, bind()); adding one
 * means appending it to FORMATS below (or calling registerFormat() from the module that defines it). Nothing else
 * refers to a format by name.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { type BoundFormat, ConfigError, type FormatSpec } from '../contracts/spi.ts';
import { avroFormat } from './avro.ts';
import { copybookFormat } from './copybook/index.ts';
import { csvFormat } from './csv.ts';
import { fixedWidthFormat } from './fixed-width.ts';
import { idocFormat } from './idoc/index.ts';
import { jsonlFormat } from './jsonl.ts';
import { jsonFormat } from './json.ts';
import { xmlFormat } from './xml.ts';

/** Every known input format, built-ins first. */
export const FORMATS: FormatSpec[] = [
  csvFormat,
  jsonlFormat,
  fixedWidthFormat,
  jsonFormat,
  xmlFormat,
  avroFormat,
  copybookFormat,
  idocFormat,
];

/** Add a format at run time (plug-ins). A second format with the same name is a programming error. */
export function registerFormat(spec: FormatSpec): void {
  if (FORMATS.some((f) => f.name === spec.name)) throw new Error(`input format '${spec.name}' is already registered`);
  FORMATS.push(spec);
}

export function formatSpec(name: string): FormatSpec | undefined {
  return FORMATS.find((f) => f.name === name);
}

export function formatNames(): string[] {
  return FORMATS.map((f) => f.name);
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ allErrors: true, useDefaults: true, strict: false }));
const validators = new WeakMap<FormatSpec, ValidateFunction>();

function validatorFor(spec: FormatSpec): ValidateFunction {
  let v = validators.get(spec);
  if (!v) {
    v = ajv.compile({ type: 'object', ...spec.options });
    validators.set(spec, v);
  }
  return v;
}

/** One readable line for the most relevant Ajv error: `<format> option <path>: <reason>`. */
export function describeOptionError(format: string, errors: readonly ErrorObject[]): string {
  // The deepest error is the culprit; at equal depth an unknown key beats the missing one a typo causes.
  const rank = (x: ErrorObject) =>
    x.instancePath.split('/').length * 10 +
    (x.keyword === 'additionalProperties' ? 2 : x.keyword === 'required' ? 0 : 1);
  const e = [...errors].sort((a, b) => rank(b) - rank(a))[0];
  const segs = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const path = segs.join('.');
  switch (e.keyword) {
    case 'additionalProperties':
      return `${format}: unknown option '${[...segs, String(e.params.additionalProperty)].join('.')}'`;
    case 'required':
      return `${format}: missing required option '${[...segs, String(e.params.missingProperty)].join('.')}'`;
    case 'enum':
      return `${format} option '${path}' must be one of: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return path
        ? `${format} option '${path}' ${e.message ?? 'is invalid'}`
        : `${format} options ${e.message ?? 'are invalid'}`;
  }
}

/**
 * Validate `options` against the format's schema (defaults filled in, on a copy) and bind them. Throws ConfigError
 * for an unknown format, invalid options, or options the format rejects when binding (e.g. a bad record path).
 * A `format` key naming the format itself is ignored, so a mapping's whole `input` section can be passed.
 */
export function bindFormat(name: string, options: Record<string, unknown> | undefined, baseDir: string): BoundFormat {
  const spec = formatSpec(name);
  if (!spec) throw new ConfigError(`unknown input format '${name}' (known: ${formatNames().join(', ')})`);
  const opts: Record<string, unknown> = structuredClone(options ?? {});
  if (opts.format === name) delete opts.format;
  const validate = validatorFor(spec);
  if (!validate(opts)) throw new ConfigError(describeOptionError(name, validate.errors ?? []));
  try {
    return spec.bind(opts, baseDir);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
}
