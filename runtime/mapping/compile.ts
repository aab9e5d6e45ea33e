/**
 * The mapping compiler: a mapping YAML file -> CompiledMapping (runtime/contracts/mapping.ts).
 *
 * Everything that can be decided once is decided here: the file is validated against mapping.schema.json (unknown
 * keys are errors), reference files are loaded, every expression is parsed and compiled to closures, constant fields
 * are checked against the event contract, and each template gets the cheapest event check that still guarantees
 * `checkEvent` passes. Every problem is a ConfigError at `file:line:col` of the mapping file; positions inside an
 * expression point at the offending token.
 *
 * map() then does, per record: filter, validation rules, key, and for each template (when / forEach) one object
 * literal per event. Data problems are rejects (RecordError), never exceptions.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  ABSOLUTE_EVENT_TYPES,
  checkEvent,
  EVENT_SCHEMA_VERSION,
  EVENT_TYPES,
  type EventType,
  type InventoryEvent,
  isInstant,
} from '../contracts/event.ts';
import { EVENT_ID_SEPARATOR, EventIdNamespace } from '../contracts/event-id.ts';
import { type CompiledMapping, FILTERED, MAPPED, type MapContext, type MapOutcome } from '../contracts/mapping.ts';
import { type BoundFormat, ConfigError, type RecordError, type SourceRecord } from '../contracts/spi.ts';
import { bindFormat as registryBindFormat } from '../formats/index.ts';
import { parseIso } from './datetime.ts';
import { Dec, quickQuantity, type RoundingMode } from './decimal.ts';
import { compileExpression, compileLet, condOf, ExprCompiler, suggest, tyOf } from './expr.ts';
import { fault, invalid, MapFault } from './fault.ts';
import { type Compiled, type Fn, Frame, type LetDef, type Scope } from './frame.ts';
import { ExprError, type Node, parseExpression } from './parser.ts';
import { type LookupSpec, loadLookup, type Row, Table, TableError, Units, joinKey } from './tables.ts';
import { equals, isAbsent, show, toDec, toText } from './values.ts';
import { isMap, isScalar, isSeq, type Path, YamlDoc } from './yaml.ts';

export type BindFormat = (name: string, options: Record<string, unknown>, baseDir: string) => BoundFormat;

export interface CompileOptions {
  /** Mapping file name used in messages and to resolve relative paths. */
  file: string;
  /** Directory relative paths (lookups, tests) resolve from; default: the file's directory. */
  baseDir?: string;
  /** Event-id namespace (a name or a ready namespace); default: the mapping name. */
  namespace?: string | EventIdNamespace;
  /** Copied into source.pipeline. */
  pipeline?: string;
  /** false: eventId is the unhashed id name (benchmarks and debugging only; not a UUID). Default true. */
  hashEventIds?: boolean;
  /** Also run the full checkEvent() on every event and fail loudly if the compiled check disagrees (tests, tools). */
  verify?: boolean;
  /** Input format binder; default: the format registry (runtime/formats). */
  bindFormat?: BindFormat;
}

export type LoadOptions = Omit<CompileOptions, 'file'>;

/** A compiled mapping with what the tooling needs besides map(). */
export interface LoadedMapping extends CompiledMapping {
  readonly file: string;
  readonly baseDir: string;
  readonly description: string | undefined;
  readonly system: string;
  /** The parsed file, for the tester (inline tests) and tooling. */
  readonly yaml: YamlDoc;
  /** Rebinds the mapping with other compile options (same file text). */
  readonly options: CompileOptions;
}

const FIELDS = [
  'eventType',
  'sku',
  'gtin',
  'locationId',
  'locationType',
  'quantity',
  'unitOfMeasure',
  'occurredAt',
] as const;
const REQUIRED_FIELDS = ['eventType', 'sku', 'locationId', 'quantity', 'unitOfMeasure', 'occurredAt'] as const;
const REFERENCE_FIELDS = ['documentId', 'documentLine', 'orderId', 'transferId', 'counterpartLocationId', 'reasonCode'];
const TEMPLATE_KEYS = ['name', 'when', 'forEach', 'round', 'validate', 'references', 'attributes', ...FIELDS];
const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'true', 'false', 'null']);

// ---------------------------------------------------------------------------------------------------------------
// Schema

let schemaValidator: ValidateFunction | undefined;
let testsValidator: ValidateFunction | undefined;
let schemaJson: Record<string, any> | undefined;

export function mappingSchema(): Record<string, any> {
  schemaJson ??= JSON.parse(readFileSync(new URL('./mapping.schema.json', import.meta.url), 'utf8'));
  return schemaJson!;
}

function validators(): { mapping: ValidateFunction; tests: ValidateFunction } {
  if (!schemaValidator || !testsValidator) {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    const schema = mappingSchema();
    ajv.addSchema(schema);
    schemaValidator = ajv.getSchema(schema.$id)!;
    testsValidator = ajv.compile({ $ref: `${schema.$id}#/definitions/testFile` });
  }
  return { mapping: schemaValidator, tests: testsValidator! };
}

function pathText(segs: Path): string {
  let s = '';
  for (const p of segs) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s;
}

/** Turns the most useful Ajv error into a ConfigError at its YAML position. */
export function schemaError(y: YamlDoc, errors: ErrorObject[], prefix: Path = []): ConfigError {
  // deepest first; at equal depth an unknown key beats the missing key a typo causes
  const rank = (x: ErrorObject) =>
    x.instancePath.split('/').length * 10 +
    (x.keyword === 'additionalProperties' ? 3 : x.keyword === 'required' ? 0 : 1);
  const sorted = [...errors].sort((a, b) => rank(b) - rank(a));
  const e = sorted[0];
  const segs: Array<string | number> = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const path = [...prefix, ...segs];
  const where = pathText(path);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}).filter(
        (k) => k !== '$schema',
      );
      return y.error(
        y.keyNode([...path, key]) ?? path,
        `unknown key '${key}'${where ? ` in ${where}` : ''}${suggest(key, allowed)}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`,
      );
    }
    case 'required':
      return y.error(path, `${where || 'the mapping'} needs '${String(e.params.missingProperty)}'`);
    case 'enum':
      return y.error(
        path,
        `${where} must be one of: ${(e.params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}`,
      );
    case 'type': {
      const t = e.params.type as string | string[];
      const list = (Array.isArray(t) ? t : [t]).map((x) => (x === 'string' ? 'text' : x));
      const expr = list.includes('number') && list.includes('boolean') && list.includes('null');
      return y.error(
        path,
        `${where} must be ${expr ? 'an expression (text, a number, true/false or null)' : list.join(' or ')}`,
      );
    }
    case 'propertyNames':
      return y.error(path, `${where}: names must be identifiers (letters, digits, _)`);
    default: {
      if (e.keyword === 'pattern' && path[0] === 'propertyName') return y.error(path, `invalid name ${e.message}`);
      return y.error(path, `${where || 'the mapping'} ${e.message ?? 'is invalid'}`);
    }
  }
}

/** Validates a YAML test file (a list of test cases). */
export function validateTestsDoc(y: YamlDoc): void {
  const v = validators().tests;
  if (!v(y.toJS())) throw schemaError(y, v.errors ?? []);
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points

/** Reads a mapping file and compiles it (lookups and reference files are read relative to it). */
export async function loadMapping(path: string, opts: LoadOptions = {}): Promise<LoadedMapping> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(e.code === 'ENOENT' ? 'mapping file not found' : `cannot read mapping file: ${e.message}`, {
      file: path,
    });
  }
  return compileMapping(text, { ...opts, file: path, baseDir: opts.baseDir ?? dirname(resolve(path)) });
}

/** Compiles mapping YAML text. */
export async function compileMapping(yamlText: string, opts: CompileOptions): Promise<LoadedMapping> {
  return compileSync(yamlText, opts);
}

/** Synchronous form of compileMapping (everything it reads is local files). */
export function compileSync(yamlText: string, opts: CompileOptions): LoadedMapping {
  const y = new YamlDoc(opts.file, yamlText);
  const doc = y.toJS();
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw y.error([], 'a mapping file is a YAML map starting with mapping: <name>');
  const v = validators().mapping;
  if (!v(doc)) throw schemaError(y, v.errors ?? []);
  return new MappingCompiler(y, doc as MappingDoc, opts).compile();
}

// ---------------------------------------------------------------------------------------------------------------

interface MappingDoc {
  mapping: string;
  version?: string | number;
  description?: string;
  input: { format: string; [k: string]: unknown };
  source: { system: string };
  let?: Record<string, unknown>;
  lookups?: Record<string, Omit<LookupSpec, 'name' | 'key'> & { key: string | string[] }>;
  tables?: Record<string, TableDoc>;
  units?: Record<string, string | number>;
  filter?: unknown;
  validate?: RuleDoc[];
  key?: unknown[];
  keyOnly?: boolean;
  event?: Record<string, unknown>;
  emit?: Array<Record<string, unknown>>;
  tests?: unknown;
}

interface TableDoc {
  key?: string | string[];
  columns?: string[];
  rows?: unknown[];
  map?: Record<string, unknown>;
  value?: string;
  onMissing?: 'reject' | 'default';
  default?: unknown;
}

interface RuleDoc {
  field?: unknown;
  required?: boolean;
  pattern?: string;
  range?: { min?: number | string; max?: number | string };
  oneOf?: unknown[];
  check?: unknown;
  when?: unknown;
  message?: string;
}

type Check = (f: Frame) => void;

interface CompiledTemplate {
  label: string;
  when: ((f: Frame) => boolean) | null;
  forEach: Fn | null;
  rules: Check[];
  index: string;
  build: (f: Frame, ctx: MapContext, rec: SourceRecord) => InventoryEvent;
  check: (e: InventoryEvent) => boolean;
}

function listOf(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

class MappingCompiler {
  readonly y: YamlDoc;
  readonly d: MappingDoc;
  readonly opts: CompileOptions;
  readonly baseDir: string;
  readonly tables = new Map<string, Table>();
  units: Units | null = null;
  readonly lets = new Map<string, LetDef>();

  constructor(y: YamlDoc, d: MappingDoc, opts: CompileOptions) {
    this.y = y;
    this.d = d;
    this.opts = opts;
    this.baseDir = opts.baseDir ?? dirname(resolve(opts.file));
  }

  scope(item: boolean): Scope {
    return { tables: this.tables, units: this.units, lets: this.lets, item };
  }

  /** Compiles the expression at a YAML path; errors point into the expression. */
  expr(path: Path, item: boolean, what = pathText(path)): Compiled & { src: string } {
    const node = this.y.node(path);
    if (!isScalar(node)) throw this.y.error(path, `${what} must be an expression`);
    const v = node.value;
    if (v === null || typeof v === 'boolean') {
      const c: Compiled = { node: { k: 'lit', v, pos: 0, end: 1 }, t: tyOf(v), konst: { v }, fn: () => v };
      return { ...c, src: String(v) };
    }
    const src = typeof v === 'string' ? v : String(node.source ?? v);
    if (
      (node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE') &&
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(src) &&
      !KEYWORDS.has(src)
    ) {
      const q = node.type === 'QUOTE_SINGLE' ? "'" : '"';
      throw this.y.error(
        node,
        `${what}: ${q}${src}${q} is YAML quoting, so this reads the input field ${src}. For the text ${src}, quote it inside the value: "'${src}'"; for the field, drop the quotes`,
      );
    }
    try {
      const c = compileExpression(src, this.scope(item));
      return { ...c, src };
    } catch (e) {
      if (e instanceof ExprError) {
        // `{ a: f(x, y) }`: in a YAML flow collection a comma ends the value
        const end = node.range?.[1] ?? 0;
        const cut = node.type === 'PLAIN' && /^\s*,/.test(this.y.text.slice(end, end + 40));
        const hint = cut ? ' (inside YAML { } or [ ], a comma ends the value: quote the expression)' : '';
        throw this.y.errorAtOffset(this.y.valueOffset(node, e.pos), `${what}: ${e.message}${hint}`);
      }
      throw e;
    }
  }

  compile(): LoadedMapping {
    const { y, d } = this;
    const name = d.mapping;
    const version = String(d.version ?? '1');
    const id = `${name}@${version}`;
    const format = this.bindInput();
    this.loadLookups();
    this.loadTables();
    this.loadUnits();
    this.declareLets();
    // compile every let now, so an unused one with an error is still reported (at its own position)
    for (const def of this.lets.values()) compileLet(def, this.scope(true));

    const filter = d.filter !== undefined ? this.condition(['filter'], false, 'filter') : null;
    const rules = (d.validate ?? []).map((_, i) => this.rule(['validate', i], false));
    const keyFns = (d.key ?? []).map((_, i) => this.expr(['key', i], false, `key[${i}]`));
    const keyOf: ((f: Frame) => string) | null = keyFns.length ? keyFunction(keyFns.map((k) => k.fn)) : null;
    if (d.keyOnly === true && keyOf === null)
      throw this.y.error(['keyOnly'], 'keyOnly: true needs key: (the fields the ids come from)');
    const keyOnly = d.keyOnly === true;
    const templates = this.templates();

    const ns =
      this.opts.namespace instanceof EventIdNamespace
        ? this.opts.namespace
        : new EventIdNamespace(this.opts.namespace ?? name);
    const hash = this.opts.hashEventIds !== false;
    const verify = this.opts.verify === true;
    const system = d.source.system;
    const frame = new Frame();
    frame.lets = new Array(this.lets.size).fill(undefined);
    frame.letGen = new Array(this.lets.size).fill(-1);
    const nt = templates.length;
    const SEP = EVENT_ID_SEPARATOR;
    let lastCtx: MapContext | undefined;
    let ctxProblem: string | null = null;

    const fail = (e: MapFault, f: Frame): RecordError =>
      e.field !== undefined || f.field !== undefined
        ? { stage: e.stage, reason: e.reason, field: e.field ?? f.field }
        : { stage: e.stage, reason: e.reason };

    for (const t of templates) {
      const build = t.build;
      t.build = (f, ctx, rec) => {
        const e = build(f, ctx, rec);
        const name = f.keyText + SEP + (f.index < 0 ? t.index : `${t.index}.${f.index}`);
        e.eventId = hash ? ns.idOf(name) : name;
        return e;
      };
    }

    const map = (rec: SourceRecord, value: unknown, out: InventoryEvent[], ctx: MapContext): MapOutcome => {
      if (rec.error) return rec.error;
      if (ctx !== lastCtx) {
        lastCtx = ctx;
        ctxProblem = !isInstant(ctx.receivedAt)
          ? 'source.receivedAt must be an ISO-8601 UTC instant ending in Z'
          : typeof ctx.connector !== 'string' || ctx.connector === ''
            ? 'source.connector must be a non-empty string'
            : null;
      }
      if (ctxProblem !== null) return { stage: 'validate', reason: ctxProblem };
      if (typeof rec.ref !== 'string' || rec.ref === '')
        return { stage: 'validate', reason: 'source.recordRef must be a non-empty string', field: 'source.recordRef' };
      const f = frame;
      f.rec = rec;
      f.value = value;
      f.item = undefined;
      f.index = -1;
      f.gen++;
      f.igen++;
      f.field = 'filter';
      const start = out.length;
      try {
        if (filter !== null && !filter(f)) return FILTERED;
        f.field = undefined;
        for (let i = 0; i < rules.length; i++) rules[i](f);
        f.field = 'key';
        f.keyText = keyOf === null ? rec.ref : keyOnly ? keyOf(f) : rec.ref + SEP + keyOf(f);
        for (let ti = 0; ti < nt; ti++) {
          const t = templates[ti];
          if (t.forEach === null) {
            f.field = 'when';
            if (t.when !== null && !t.when(f)) continue;
            f.field = undefined;
            for (let r = 0; r < t.rules.length; r++) t.rules[r](f);
            const e = t.build(f, ctx, rec);
            if (!t.check(e)) return eventProblem(e, out, start, verify);
            if (verify) verifyEvent(e);
            out.push(e);
            continue;
          }
          f.field = 'forEach';
          const items = t.forEach(f);
          if (items === null || items === undefined) continue;
          const list: readonly unknown[] = Array.isArray(items) ? items : [items];
          for (let i = 0; i < list.length; i++) {
            f.item = list[i];
            f.index = i;
            f.igen++;
            f.field = 'when';
            if (t.when !== null && !t.when(f)) continue;
            f.field = undefined;
            for (let r = 0; r < t.rules.length; r++) t.rules[r](f);
            const e = t.build(f, ctx, rec);
            if (!t.check(e)) return eventProblem(e, out, start, verify);
            if (verify) verifyEvent(e);
            out.push(e);
          }
          f.item = undefined;
          f.index = -1;
        }
        return out.length > start ? MAPPED : FILTERED;
      } catch (e) {
        if (e instanceof MapFault) {
          out.length = start;
          return fail(e, f);
        }
        throw e;
      } finally {
        f.item = undefined;
        f.index = -1;
      }
    };

    const loaded: LoadedMapping = {
      id,
      name,
      version,
      format,
      map,
      file: this.opts.file,
      baseDir: this.baseDir,
      description: d.description,
      system,
      yaml: y,
      options: this.opts,
    };
    return loaded;
  }

  // ---- sections -----------------------------------------------------------------------------------------------------

  bindInput(): BoundFormat {
    const { format, ...options } = this.d.input;
    const bind = this.opts.bindFormat ?? registryBindFormat;
    try {
      return bind(format, options, this.baseDir);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      // point at the option the message names, else at format:
      const named = /option '([^']+)'/.exec(msg)?.[1]?.split('.')[0];
      const at: Path = named && this.y.node(['input', named]) ? ['input', named] : ['input', 'format'];
      const node = named && this.y.node(['input', named]) ? this.y.keyNode(at) : this.y.node(at);
      throw this.y.error(node, `input: ${msg}`);
    }
  }

  loadLookups(): void {
    for (const [name, spec] of Object.entries(this.d.lookups ?? {})) {
      const p: Path = ['lookups', name];
      const file = resolve(this.baseDir, spec.file);
      try {
        this.tables.set(
          name,
          loadLookup({
            name,
            file,
            key: listOf(spec.key),
            columns: spec.columns,
            value: spec.value,
            onMissing: spec.onMissing,
            default: spec.default,
            delimiter: spec.delimiter,
          }),
        );
      } catch (e) {
        if (!(e instanceof TableError)) throw e;
        const where = e.line ? ` (${spec.file}:${e.line})` : '';
        const at: Path = /not in|cannot read|JSON|empty|object file/.test(e.message) ? [...p, 'file'] : p;
        throw this.y.error(at, `lookups.${name}: ${e.message.replace(`${file}`, spec.file)}${where}`);
      }
    }
  }

  loadTables(): void {
    for (const [name, t] of Object.entries(this.d.tables ?? {})) {
      const p: Path = ['tables', name];
      if (this.tables.has(name)) throw this.y.error(this.y.keyNode(p), `${name} is already declared in lookups:`);
      try {
        if (t.map !== undefined) {
          if (t.rows !== undefined || t.key !== undefined || t.columns !== undefined)
            throw new TableError('use either map: (key -> value) or key:/columns:/rows:, not both');
          const table = new Table({
            name,
            kind: 'table',
            keyColumns: ['key'],
            columns: ['value'],
            onMissing: t.onMissing,
            default: t.default,
          });
          const mapNode = this.y.node([...p, 'map']);
          if (isMap(mapNode))
            for (const pair of mapNode.items) {
              const k = cellText(pair.key);
              if (k === null) throw new TableError('map keys cannot be null');
              const row: Row = Object.create(null);
              row.value = cellText(pair.value);
              table.add(k, row);
            }
          this.tables.set(name, table);
          continue;
        }
        const keys = listOf(t.key);
        if (keys.length === 0)
          throw new TableError('a table needs key: (its key column or columns) and rows:, or map:');
        if (t.rows === undefined) throw new TableError('a table needs rows: (or map:)');
        let columns = t.columns;
        const rowsNode = this.y.node([...p, 'rows']);
        const rowNodes = isSeq(rowsNode) ? rowsNode.items : [];
        if (!columns) {
          const first = t.rows.find((r) => r !== null && typeof r === 'object' && !Array.isArray(r)) as
            | Record<string, unknown>
            | undefined;
          if (!first) throw new TableError('columns: is required when rows are lists');
          columns = Object.keys(first).filter((k) => !keys.includes(k));
        }
        for (const k of keys)
          if (columns.includes(k)) throw new TableError(`${k} is both a key column and a value column`);
        const table = new Table({
          name,
          kind: 'table',
          keyColumns: keys,
          columns,
          value: t.value,
          onMissing: t.onMissing,
          default: t.default,
        });
        const all = [...keys, ...columns];
        rowNodes.forEach((rn, i) => {
          const where = { row: i + 1 };
          const rowPath: Path = [...p, 'rows', i];
          const cells: Row = Object.create(null);
          try {
            if (isSeq(rn)) {
              if (rn.items.length !== all.length)
                throw new TableError(
                  `row ${i + 1} has ${rn.items.length} cells; expected ${all.length} (${all.join(', ')})`,
                  where,
                );
              rn.items.forEach((cell, j) => {
                cells[all[j]] = cellText(cell);
              });
            } else if (isMap(rn)) {
              for (const pair of rn.items) {
                const k = cellText(pair.key);
                if (k === null || !all.includes(k))
                  throw new TableError(
                    `row ${i + 1}: unknown column ${JSON.stringify(k)} (columns: ${all.join(', ')})`,
                    where,
                  );
                cells[k] = cellText(pair.value);
              }
              for (const k of keys) if (!(k in cells)) throw new TableError(`row ${i + 1} has no ${k}`, where);
            } else throw new TableError(`row ${i + 1} must be a list or a map`, where);
            const key = joinKey(keys.map((k) => cells[k]));
            if (key === null) throw new TableError(`row ${i + 1} has an empty key`, where);
            const row: Row = Object.create(null);
            for (const c of columns!) row[c] = cells[c] ?? null;
            table.add(key, row, where);
          } catch (e) {
            if (e instanceof TableError) throw this.y.error(rowPath, `tables.${name}: ${e.message}`);
            throw e;
          }
        });
        this.tables.set(name, table);
      } catch (e) {
        if (e instanceof TableError) throw this.y.error(p, `tables.${name}: ${e.message}`);
        throw e;
      }
    }
  }

  loadUnits(): void {
    if (!this.d.units) return;
    try {
      const defs: Record<string, string> = {};
      for (const [u, v] of Object.entries(this.d.units)) defs[u] = String(v);
      this.units = new Units(defs);
    } catch (e) {
      if (e instanceof TableError) {
        const unit = /^units? ([^\s:]+)/.exec(e.message)?.[1];
        throw this.y.error(unit && this.y.node(['units', unit]) ? ['units', unit] : ['units'], `units: ${e.message}`);
      }
      throw e;
    }
  }

  declareLets(): void {
    let i = 0;
    for (const name of Object.keys(this.d.let ?? {})) {
      const path: Path = ['let', name];
      const node = this.y.node(path);
      if (['meta', 'record', 'item', 'index'].includes(name))
        throw this.y.error(this.y.keyNode(path), `let: $${name} is a built-in variable; choose another name`);
      let src: string;
      if (isScalar(node) && typeof node.value === 'string') src = node.value;
      else src = String(isScalar(node) ? (node.source ?? node.value) : 'null');
      let parsed: ReturnType<typeof parseExpression>;
      try {
        parsed = parseExpression(src);
      } catch (e) {
        if (e instanceof ExprError && isScalar(node))
          throw this.y.errorAtOffset(this.y.valueOffset(node, e.pos), `let.${name}: ${e.message}`);
        throw e;
      }
      const def: LetDef = {
        name,
        index: i++,
        node: parsed,
        state: 'new',
        err: (e) => {
          if (e instanceof ExprError && isScalar(node))
            throw this.y.errorAtOffset(this.y.valueOffset(node, e.pos), `let.${name}: ${e.message}`);
          throw e;
        },
      };
      this.lets.set(name, def);
    }
  }

  condition(path: Path, item: boolean, what: string): (f: Frame) => boolean {
    const c = this.expr(path, item, what);
    if (c.konst) {
      const v = c.konst.v;
      if (v !== true && v !== false && v !== null) throw this.y.error(path, `${what} must be true or false`);
      return v === true ? () => true : () => false;
    }
    if (c.t === 'text' || c.t === 'num' || c.t === 'list' || c.t === 'instant')
      throw this.y.error(path, `${what} must be a condition (true or false), e.g. TYPE != 'V'`);
    const fn = c.fn;
    return (f) => {
      const v = fn(f);
      if (v === true) return true;
      if (v === false || v === null || v === undefined) return false;
      return fault(`${what} must be true or false, got ${show(v)}`);
    };
  }

  rule(path: Path, item: boolean): Check {
    const r = this.y.node(path) ? (this.y.node(path) as { toJSON(): RuleDoc }).toJSON() : ({} as RuleDoc);
    const has = (k: keyof RuleDoc) => r[k] !== undefined;
    if (!has('field') && !has('check'))
      throw this.y.error(path, 'a validation rule needs field: (with required/pattern/range/oneOf) or check:');
    if (has('check') && (has('required') || has('pattern') || has('range') || has('oneOf')))
      throw this.y.error(path, 'check: is a rule of its own; put required/pattern/range/oneOf in a separate rule');
    if (has('field') && !has('required') && !has('pattern') && !has('range') && !has('oneOf') && !has('check'))
      throw this.y.error(path, 'this rule checks nothing: add required, pattern, range or oneOf');
    const when = has('when') ? this.condition([...path, 'when'], item, `${pathText(path)}.when`) : null;
    const msg = r.message;
    if (has('check')) {
      const c = this.condition([...path, 'check'], item, `${pathText(path)}.check`);
      const src = this.expr([...path, 'check'], item).src;
      const reason = msg ?? `check failed: ${src}`;
      return (f) => {
        if (when !== null && !when(f)) return;
        if (!c(f)) invalid(reason);
      };
    }
    const fe = this.expr([...path, 'field'], item, `${pathText(path)}.field`);
    const label = fe.src;
    const get = fe.fn;
    const required = r.required === true;
    let re: RegExp | null = null;
    if (r.pattern !== undefined) {
      try {
        re = new RegExp(`^(?:${r.pattern})$`, 'u');
      } catch (e) {
        throw this.y.error([...path, 'pattern'], `invalid regular expression: ${(e as Error).message}`);
      }
    }
    const bound = (k: 'min' | 'max'): Dec | null => {
      const v = r.range?.[k];
      if (v === undefined) return null;
      const d = Dec.parse(String(v));
      if (d === null) throw this.y.error([...path, 'range', k], `range.${k} must be a number`);
      return d;
    };
    const min = bound('min');
    const max = bound('max');
    if (r.range && !min && !max) throw this.y.error([...path, 'range'], 'range needs min:, max: or both');
    const oneOf = r.oneOf ? r.oneOf.map((x) => (typeof x === 'number' ? Dec.ofNumber(x) : x)) : null;
    const oneOfText = r.oneOf?.map((x) => String(x)).join(', ');
    const rangeText = `[${min ? Dec.toText(min) : '…'}, ${max ? Dec.toText(max) : '…'}]`;
    const fail = (generated: string): never => invalid(msg ?? generated, label);
    return (f) => {
      if (when !== null && !when(f)) return;
      const v = get(f);
      if (isAbsent(v)) {
        if (required) fail(`${label} is required`);
        return;
      }
      if (re !== null) {
        const t = toText(v);
        if (t === null || !re.test(t)) fail(`${label} ${show(v)} does not match ${r.pattern}`);
      }
      if (min !== null || max !== null) {
        let d: Dec | null = null;
        try {
          d = toDec(v);
        } catch {
          fail(`${label} ${show(v)} is not a number`);
        }
        if (d !== null && ((min !== null && Dec.cmp(d, min) < 0) || (max !== null && Dec.cmp(d, max) > 0)))
          fail(`${label} ${show(v)} is out of range ${rangeText}`);
      }
      if (oneOf !== null && !oneOf.some((x) => equals(v, x))) fail(`${label} ${show(v)} is not one of ${oneOfText}`);
    };
  }

  // ---- templates ----------------------------------------------------------------------------------------------------

  templates(): CompiledTemplate[] {
    const { d } = this;
    if (!d.event && !d.emit) throw this.y.error([], 'a mapping needs event: (one event per record) or emit: (a list)');
    const base = d.event ?? {};
    const entries: Array<{ path: Path | null; t: Record<string, unknown> }> = d.emit
      ? d.emit.map((t, i) => ({ path: ['emit', i], t }))
      : [{ path: null, t: {} }];
    return entries.map(({ path, t }, ti) => {
      // field -> YAML path of its expression (the entry's own, else event:'s)
      const src = new Map<string, Path>();
      for (const k of TEMPLATE_KEYS) {
        if (k === 'references' || k === 'attributes') continue;
        if (path && t[k] !== undefined) src.set(k, [...path, k]);
        else if (base[k] !== undefined) src.set(k, ['event', k]);
      }
      for (const group of ['references', 'attributes'] as const) {
        const names = new Set<string>([
          ...Object.keys((base[group] as object | undefined) ?? {}),
          ...Object.keys((t[group] as object | undefined) ?? {}),
        ]);
        for (const n of names) {
          const own = path && (t[group] as Record<string, unknown> | undefined)?.[n] !== undefined;
          src.set(`${group}.${n}`, own ? [...path!, group, n] : ['event', group, n]);
        }
      }
      const label =
        path === null
          ? 'event'
          : `emit[${ti}]${typeof (t.name ?? base.name) === 'string' ? ` (${String(t.name ?? base.name)})` : ''}`;
      for (const f of REQUIRED_FIELDS)
        if (!src.has(f))
          throw this.y.error(path ?? ['event'], `${label} has no ${f}${path ? ' (give it here or in event:)' : ''}`);
      return this.template(src, label, ti);
    });
  }

  template(src: Map<string, Path>, label: string, ti: number): CompiledTemplate {
    const forEach = src.has('forEach') ? this.expr(src.get('forEach')!, false, `${label}.forEach`) : null;
    const item = forEach !== null;
    const when = src.has('when') ? this.condition(src.get('when')!, item, `${label}.when`) : null;
    const rulesPath = src.get('validate');
    const rulesNode = rulesPath ? this.y.node(rulesPath) : undefined;
    const rules = isSeq(rulesNode) ? rulesNode.items.map((_, i) => this.rule([...rulesPath!, i], item)) : [];
    let round: RoundingMode | null = null;
    if (src.has('round')) round = (this.y.node(src.get('round')!) as { value: RoundingMode }).value;
    const ex = (field: string) => this.expr(src.get(field)!, item, `${label === 'event' ? 'event' : label}.${field}`);

    // eventType
    const et = ex('eventType');
    let eventTypeConst: string | null = null;
    if (et.konst) {
      const v = et.konst.v;
      if (typeof v !== 'string' || !EVENT_TYPE_SET.has(v))
        throw this.y.error(
          src.get('eventType')!,
          `${label}.eventType ${show(v)} is not an event type (${EVENT_TYPES.join(', ')})`,
        );
      eventTypeConst = v;
    } else if (et.node.k === 'field' && EVENT_TYPE_SET.has(et.node.name)) {
      throw this.y.error(
        src.get('eventType')!,
        `${label}.eventType: ${et.node.name} reads the input field ${et.node.name}; for the event type write "'${et.node.name}'"`,
      );
    }
    const fEventType = textFn(et, false);
    const fSku = textFn(ex('sku'), false);
    const fGtin = src.has('gtin') ? textFn(ex('gtin'), true) : null;
    const fLoc = textFn(ex('locationId'), false);
    const fLocType = src.has('locationType') ? textFn(ex('locationType'), true) : null;
    const qx = ex('quantity');
    const qerr = (m: string) => this.y.error(src.get('quantity')!, `${label}.quantity: ${m}`);
    const fQty = quantityPushdown(qx.node, new ExprCompiler(this.scope(item)), round, qerr, qx);
    const fUom = textFn(ex('unitOfMeasure'), false);
    const ox = ex('occurredAt');
    const fAt = instantFn(ox, (m) => this.y.error(src.get('occurredAt')!, `${label}.occurredAt: ${m}`));

    const refNames = [...src.keys()].filter((k) => k.startsWith('references.')).map((k) => k.slice(11));
    for (const r of refNames)
      if (!REFERENCE_FIELDS.includes(r)) throw this.y.error(src.get(`references.${r}`)!, `unknown reference ${r}`);
    const refFns = refNames.map((r) => textFn(ex(`references.${r}`), true));
    const attrNames = [...src.keys()].filter((k) => k.startsWith('attributes.')).map((k) => k.slice(11));
    const attrFns = attrNames.map((a) => textFn(ex(`attributes.${a}`), true));
    const buildRefs = referencesBuilder(refNames, refFns);
    const buildAttrs = attributesBuilder(attrNames, attrFns);

    const system = this.d.source.system;
    const mappingId = `${this.d.mapping}@${String(this.d.version ?? '1')}`;
    const pipeline = this.opts.pipeline ?? null;

    const build = (f: Frame, ctx: MapContext, rec: SourceRecord): InventoryEvent => {
      f.field = 'eventType';
      const eventType = fEventType(f) as EventType;
      f.field = 'sku';
      const sku = fSku(f) as string;
      f.field = 'gtin';
      const gtin = fGtin === null ? null : (fGtin(f) as string | null);
      f.field = 'locationId';
      const locationId = fLoc(f) as string;
      f.field = 'locationType';
      const locationType = fLocType === null ? null : (fLocType(f) as string | null);
      f.field = 'quantity';
      const quantity = fQty(f) as string;
      f.field = 'unitOfMeasure';
      const unitOfMeasure = fUom(f) as string;
      f.field = 'occurredAt';
      const occurredAt = fAt(f) as string;
      const references = buildRefs === null ? null : buildRefs(f);
      const attributes = buildAttrs === null ? null : buildAttrs(f);
      return {
        schemaVersion: EVENT_SCHEMA_VERSION,
        eventId: '',
        eventType,
        sku,
        gtin,
        locationId,
        locationType,
        quantity,
        unitOfMeasure,
        occurredAt,
        references,
        source: {
          system,
          connector: ctx.connector,
          recordRef: rec.ref,
          receivedAt: ctx.receivedAt,
          pipeline,
          mapping: mappingId,
        },
        attributes,
      };
    };

    // The compiled contract check: quantity and occurredAt come out of our own formatters (valid by construction,
    // or null), source fields were checked once per batch context, attributes are strings by construction.
    const absolute = eventTypeConst === null || ABSOLUTE_EVENT_TYPES.has(eventTypeConst as EventType);
    const typeKnown = eventTypeConst !== null;
    const check = (e: InventoryEvent): boolean =>
      (typeKnown || EVENT_TYPE_SET.has(e.eventType)) &&
      !!e.sku &&
      !!e.locationId &&
      e.quantity !== null &&
      !!e.unitOfMeasure &&
      e.occurredAt !== null &&
      (!absolute || e.quantity.charCodeAt(0) !== 45 || !ABSOLUTE_EVENT_TYPES.has(e.eventType));
    void ti;
    return { label, when, forEach: forEach?.fn ?? null, rules, index: String(ti), build, check };
  }
}

const NOTHING: Fn = () => null;

/**
 * references: the canonical object, all six keys in a fixed order (null when not given): one object literal with
 * constant keys, the cheapest object V8 can build, and the shape the Avro and Parquet sinks write anyway.
 */
function referencesBuilder(names: string[], fns: Fn[]): ((f: Frame) => Record<string, string | null>) | null {
  if (names.length === 0) return null;
  const fn = (k: string): Fn => {
    const i = names.indexOf(k);
    return i < 0 ? NOTHING : fns[i];
  };
  const [a, b, c, d, e, g] = REFERENCE_FIELDS.map(fn);
  return (f) => {
    f.field = 'references.documentId';
    const documentId = a(f) as string | null;
    f.field = 'references.documentLine';
    const documentLine = b(f) as string | null;
    f.field = 'references.orderId';
    const orderId = c(f) as string | null;
    f.field = 'references.transferId';
    const transferId = d(f) as string | null;
    f.field = 'references.counterpartLocationId';
    const counterpartLocationId = e(f) as string | null;
    f.field = 'references.reasonCode';
    const reasonCode = g(f) as string | null;
    return { documentId, documentLine, orderId, transferId, counterpartLocationId, reasonCode };
  };
}

/**
 * attributes: only the non-null values, or null when there is none. Unrolled for up to four attributes so that each
 * property store sees one key (a loop over computed keys costs several times more).
 */
function attributesBuilder(names: string[], fns: Fn[]): ((f: Frame) => Record<string, string> | null) | null {
  const labels = names.map((n) => `attributes.${n}`);
  type A = Record<string, string>;
  switch (names.length) {
    case 0:
      return null;
    case 1: {
      const [k0] = names;
      const [f0] = fns;
      const [l0] = labels;
      return (f) => {
        f.field = l0;
        const v0 = f0(f) as string | null;
        if (v0 === null) return null;
        const o: A = {};
        o[k0] = v0;
        return o;
      };
    }
    case 2: {
      const [k0, k1] = names;
      const [f0, f1] = fns;
      const [l0, l1] = labels;
      return (f) => {
        f.field = l0;
        const v0 = f0(f) as string | null;
        f.field = l1;
        const v1 = f1(f) as string | null;
        if (v0 === null && v1 === null) return null;
        const o: A = {};
        if (v0 !== null) o[k0] = v0;
        if (v1 !== null) o[k1] = v1;
        return o;
      };
    }
    case 3:
    case 4: {
      const [k0, k1, k2, k3] = names;
      const [f0, f1, f2, f3] = fns;
      const [l0, l1, l2, l3] = labels;
      const four = names.length === 4;
      return (f) => {
        f.field = l0;
        const v0 = f0(f) as string | null;
        f.field = l1;
        const v1 = f1(f) as string | null;
        f.field = l2;
        const v2 = f2(f) as string | null;
        let v3: string | null = null;
        if (four) {
          f.field = l3;
          v3 = f3(f) as string | null;
        }
        if (v0 === null && v1 === null && v2 === null && v3 === null) return null;
        const o: A = {};
        if (v0 !== null) o[k0] = v0;
        if (v1 !== null) o[k1] = v1;
        if (v2 !== null) o[k2] = v2;
        if (v3 !== null) o[k3] = v3;
        return o;
      };
    }
    default:
      return (f) => {
        let o: A | null = null;
        for (let i = 0; i < names.length; i++) {
          f.field = labels[i];
          const v = fns[i](f) as string | null;
          if (v !== null) (o ??= {})[names[i]] = v;
        }
        return o;
      };
  }
}

/** Reject for an event the compiled check refused: checkEvent() gives the reason. */
function eventProblem(e: InventoryEvent, out: InventoryEvent[], start: number, verify: boolean): RecordError {
  out.length = start;
  const reason = checkEvent(e);
  if (reason === null) {
    if (verify) throw new Error('mapping bug: the compiled event check failed but checkEvent() accepts the event');
    return { stage: 'validate', reason: 'event failed the contract check' };
  }
  const field = /^([A-Za-z.]+) /.exec(reason)?.[1];
  return field ? { stage: 'validate', reason, field } : { stage: 'validate', reason };
}

/** verify mode: the full contract check must agree with the compiled one. */
function verifyEvent(e: InventoryEvent): void {
  const r = checkEvent(e);
  if (r !== null) throw new Error(`mapping bug: the compiled event check passed but checkEvent() says: ${r}`);
}

function keyFunction(fns: Fn[]): (f: Frame) => string {
  if (fns.length === 1) {
    const [a] = fns;
    return (f) => toText(a(f)) ?? '';
  }
  return (f) => {
    let s = '';
    for (let i = 0; i < fns.length; i++) {
      const t = toText(fns[i](f)) ?? '';
      s = i === 0 ? t : s + EVENT_ID_SEPARATOR + t;
    }
    return s;
  };
}

/** Text of a YAML table cell exactly as written (plain scalars keep their source: 0001, 1.50). */
function cellText(n: unknown): string | null {
  if (n === null || n === undefined) return null;
  if (!isScalar(n)) throw new TableError('table cells must be single values');
  if (n.value === null) return null;
  if (typeof n.value === 'string') return n.value;
  return String(n.source ?? n.value);
}

/** A text field: value -> string (numbers canonical); optional fields turn empty text into null. */
function textFn(c: Compiled, optional: boolean): Fn {
  if (c.konst) {
    const v = c.konst.v;
    const t = v === null || v === undefined ? null : toText(v);
    const r = optional && t === '' ? null : t;
    return () => r;
  }
  const fn = c.fn;
  if (c.t === 'text' || c.t === 'instant')
    return optional ? (f) => fn(f) || null : (f) => (fn(f) as string | null | undefined) ?? null;
  if (optional)
    return (f) => {
      const v = fn(f);
      if (typeof v === 'string') return v === '' ? null : v;
      return v === null || v === undefined ? null : toText(v) || null;
    };
  return (f) => {
    const v = fn(f);
    if (typeof v === 'string') return v;
    return v === null || v === undefined ? null : toText(v);
  };
}

function quantityOf(v: unknown, mode: RoundingMode | null): string | null {
  if (v === null || v === undefined || v === '') return null;
  let d = toDec(v)!;
  if (mode !== null) d = Dec.round(d, 3, mode);
  const q = Dec.toQuantity(d);
  if (q.charCodeAt(0) === 33) fault(q.slice(1));
  return q;
}

function quantityFn(c: Compiled, mode: RoundingMode | null, err: (m: string) => ConfigError): Fn {
  if (c.konst) {
    let q: string | null;
    try {
      q = quantityOf(c.konst.v, mode);
    } catch (e) {
      if (e instanceof MapFault) throw err(e.reason);
      throw e;
    }
    return () => q;
  }
  if (c.t === 'bool' || c.t === 'list' || c.t === 'instant') throw err(`must be a number, but this is ${c.t}`);
  const fn = c.fn;
  if (c.t === 'num') return (f) => quantityOf(fn(f), mode);
  return (f) => {
    const v = fn(f);
    if (typeof v === 'string') {
      const q = quickQuantity(v);
      if (q !== undefined) return q;
    }
    return quantityOf(v, mode);
  };
}

/**
 * Quantity conversion pushed into the branches of if()/?: and through unary minus, so that `if(c, qty, -qty)` on
 * decimal text never builds a Dec: each branch takes the text fast path and a minus just flips the sign of the
 * canonical text. (Not through ceiling/floor rounding, which is not symmetric.)
 */
function quantityPushdown(
  node: Node,
  ec: ExprCompiler,
  mode: RoundingMode | null,
  err: (m: string) => ConfigError,
  compiled?: Compiled,
): Fn {
  const c = compiled ?? ec.compile(node);
  if (c.konst) return quantityFn(c, mode, err);
  let parts: [Node, Node, Node | null] | null = null;
  if (node.k === 'cond') parts = [node.c, node.a, node.b];
  else if (node.k === 'call' && node.fn === 'if' && (node.args.length === 2 || node.args.length === 3))
    parts = [node.args[0], node.args[1], node.args[2] ?? null];
  if (parts) {
    const test = condOf(ec.compile(parts[0]), 'the condition');
    const a = quantityPushdown(parts[1], ec, mode, err);
    const b = parts[2] ? quantityPushdown(parts[2], ec, mode, err) : () => null;
    return (f) => (test(f) ? a(f) : b(f));
  }
  if (node.k === 'unary' && node.op === '-' && mode !== 'ceiling' && mode !== 'floor') {
    const inner = quantityPushdown(node.a, ec, mode, err);
    return (f) => {
      const q = inner(f) as string | null;
      if (q === null) return null;
      if (q.charCodeAt(0) === 45) return q.slice(1);
      return q === '0.000' ? q : `-${q}`;
    };
  }
  return quantityFn(c, mode, err);
}

function instantFn(c: Compiled, err: (m: string) => ConfigError): Fn {
  const conv = (v: unknown): string | null => {
    if (v === null || v === undefined || v === '') return null;
    if (typeof v !== 'string') return fault(`expected an instant, got ${show(v)}`);
    return parseIso(v, null);
  };
  if (c.konst) {
    try {
      const r = conv(c.konst.v);
      return () => r;
    } catch (e) {
      if (e instanceof MapFault) throw err(e.reason);
      throw e;
    }
  }
  if (c.t === 'num' || c.t === 'bool' || c.t === 'list')
    throw err('must be an instant: use parseDate(), parseIso() or fromEpoch()');
  const fn = c.fn;
  if (c.t === 'instant') return (f) => (fn(f) as string | null | undefined) ?? null;
  return (f) => conv(fn(f));
}
