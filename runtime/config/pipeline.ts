/**
 * Loads a pipeline file: YAML with positions → `${env:…}`/`${file:…}` substitution → base schema → each
 * component's own option schema (defaults filled in). Every problem is a ConfigError at `file:line:col`.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ConfigError, type ConnectorSpec, type JsonSchema } from '../contracts/spi.ts';
import type { ConnectorRegistry } from '../registry.ts';
import { basePipelineSchema, DELIVERY_DEFAULTS } from './pipeline-schema.ts';
import { ajvError, errorAt, nodeAt, readYamlFile, substitute, type YamlFile } from './yaml-source.ts';

export interface ComponentConfig {
  type: string;
  /** Name in logs and metrics. */
  name: string;
  spec: ConnectorSpec;
  /** Options as written, with the connector's defaults filled in (no `type`/`name`). */
  options: Record<string, unknown>;
  /** Where the component is declared, for later errors. */
  at: { file: string; line?: number; column?: number };
}

export interface DeliveryConfig {
  batchSize: number;
  maxPendingBatches: number;
  flushIdleMs: number;
  shutdownTimeoutMs: number;
  retry: { initialDelayMs: number; maxDelayMs: number; maxAttempts: number };
}

export interface PipelineConfig {
  name: string;
  description?: string;
  file: string;
  baseDir: string;
  source: ComponentConfig;
  processors: ComponentConfig[];
  sinks: ComponentConfig[];
  /** `deadLetter.sink`: a sink that also receives every dead letter (it must implement Sink.writeDeadLetters). */
  deadLetterSink?: ComponentConfig;
  /** `identity`, or the absolute path of the mapping file. */
  mapping: string;
  mappingAt: { file: string; line?: number; column?: number };
  delivery: DeliveryConfig;
  state: { dir?: string; synchronous: 'NORMAL' | 'FULL' };
  metrics: { port?: number };
  yaml: YamlFile;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
/** One Ajv (JSON Schema 2020-12) for pipeline and connector option schemas. */
export const ajv = addFormats(new Ajv2020({ allErrors: true, useDefaults: true, strict: false }));
const validateBase = ajv.compile(basePipelineSchema);
const optionValidators = new WeakMap<ConnectorSpec, ValidateFunction>();

function validatorFor(spec: ConnectorSpec): ValidateFunction {
  let v = optionValidators.get(spec);
  if (!v) {
    const schema: JsonSchema = { type: 'object', additionalProperties: false, ...spec.options };
    v = ajv.compile(schema);
    optionValidators.set(spec, v);
  }
  return v;
}

export function loadPipeline(file: string, registry: ConnectorRegistry, env: NodeJS.ProcessEnv = process.env): PipelineConfig {
  const y = readYamlFile(file);
  substitute(y, env);
  const raw = y.doc.toJS() as Record<string, unknown> | null;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError('a pipeline file must be a YAML mapping with pipeline, source and sinks', { file, line: 1, column: 1 });
  if (!validateBase(raw)) throw ajvError(y, validateBase.errors ?? [], [], 'the pipeline');

  const component = (kind: ConnectorSpec['kind'], path: Array<string | number>, value: Record<string, unknown>): ComponentConfig => {
    const { type, name, ...options } = value as { type: string; name?: string };
    const spec = registry.get(kind, type);
    const typeNode = nodeAt(y, [...path, 'type']);
    if (!spec) {
      const known = registry.names(kind);
      throw errorAt(y, typeNode, `unknown ${kind} connector '${type}' (known: ${known.join(', ') || 'none'})`);
    }
    const validate = validatorFor(spec);
    if (!validate(options)) throw ajvError(y, validate.errors ?? [], path, `${kind} '${type}'`);
    const pos = errorAt(y, nodeAt(y, path), '').location ?? { file };
    return { type, name: name ?? type, spec, options, at: pos };
  };

  const r = raw as {
    pipeline: string;
    description?: string;
    source: Record<string, unknown>;
    mapping: string;
    processors: Array<Record<string, unknown>>;
    sinks: Array<Record<string, unknown>>;
    delivery: DeliveryConfig;
    state: PipelineConfig['state'];
    metrics: PipelineConfig['metrics'];
  };
  const source = component('source', ['source'], r.source);
  const processors = r.processors.map((p, i) => component('processor', ['processors', i], p));
  const sinks = r.sinks.map((s, i) => component('sink', ['sinks', i], s));
  const names = new Set<string>();
  for (const [i, s] of sinks.entries()) {
    if (names.has(s.name)) throw errorAt(y, nodeAt(y, ['sinks', i]), `two sinks are named '${s.name}': give one a distinct name:`);
    names.add(s.name);
  }

  const dlSink = (raw as { deadLetter?: { sink?: Record<string, unknown> } }).deadLetter?.sink;
  const deadLetterSink = dlSink ? component('sink', ['deadLetter', 'sink'], dlSink) : undefined;

  const mappingNode = nodeAt(y, ['mapping']);
  const mappingAt = errorAt(y, mappingNode, '').location ?? { file };
  let mapping = r.mapping;
  if (mapping !== 'identity') {
    mapping = resolve(y.baseDir, mapping);
    if (!existsSync(mapping)) throw errorAt(y, mappingNode, `mapping file ${mapping} not found`);
  }

  return {
    name: r.pipeline,
    description: r.description,
    file,
    baseDir: y.baseDir,
    source,
    processors,
    sinks,
    deadLetterSink,
    mapping,
    mappingAt,
    delivery: { ...DELIVERY_DEFAULTS, ...r.delivery, retry: { ...DELIVERY_DEFAULTS.retry, ...r.delivery.retry } },
    state: r.state,
    metrics: r.metrics,
    yaml: y,
  };
}
