/**
 * JSON Schema of pipeline files. The base schema validates the frame; each component's options are validated
 * against its connector's own schema. `pipelineJsonSchema(registry)` merges both into the one schema published
 * for editors (`stockbridge schema pipeline`, docs/schemas/pipeline.schema.json).
 */
import type { ConnectorSpec, JsonSchema } from '../contracts/spi.ts';
import type { ConnectorRegistry } from '../registry.ts';

const component = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string', description: 'Connector type (see `stockbridge connectors`).' },
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$', description: 'Name in logs and metrics; defaults to the type.' },
  },
} as const;

export const DELIVERY_DEFAULTS = {
  batchSize: 1000,
  maxPendingBatches: 64,
  flushIdleMs: 1000,
  retry: { initialDelayMs: 200, maxDelayMs: 30_000, maxAttempts: 0 },
  shutdownTimeoutMs: 30_000,
};

export const basePipelineSchema: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://stockbridge.dev/schemas/pipeline.json',
  title: 'Stockbridge pipeline',
  type: 'object',
  required: ['pipeline', 'source', 'sinks'],
  additionalProperties: false,
  properties: {
    pipeline: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
      description: 'Pipeline name: state, metrics and event-id namespaces are keyed by it.',
    },
    description: { type: 'string' },
    source: { ...component, description: 'Where records come from.' },
    mapping: {
      type: 'string',
      description: 'Mapping file (relative to this file), or `identity` for records that already are canonical events.',
      default: 'identity',
    },
    processors: { type: 'array', items: component, default: [] },
    sinks: { type: 'array', minItems: 1, items: component, description: 'Every event goes to every sink.' },
    deadLetter: {
      type: 'object',
      additionalProperties: false,
      properties: {
        store: { enum: ['embedded'], default: 'embedded', description: 'Where rejects go: the embedded state store.' },
        sink: {
          ...component,
          description:
            'Also send every dead letter to this sink (e.g. `{type: kafka, topic: inventory.rejects, ...}`), acknowledged before the batch commits. The sink connector must support dead letters.',
        },
      },
      default: {},
    },
    delivery: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        batchSize: { type: 'integer', minimum: 1, maximum: 100_000, default: DELIVERY_DEFAULTS.batchSize, description: 'Records per batch.' },
        maxPendingBatches: {
          type: 'integer',
          minimum: 1,
          default: DELIVERY_DEFAULTS.maxPendingBatches,
          description: 'Batches handed to sinks but not yet committed; reading pauses (and sinks are flushed) at this bound.',
        },
        flushIdleMs: {
          type: 'integer',
          minimum: 10,
          default: DELIVERY_DEFAULTS.flushIdleMs,
          description: 'Flush buffering sinks when the source has produced nothing for this long.',
        },
        shutdownTimeoutMs: {
          type: 'integer',
          minimum: 0,
          default: DELIVERY_DEFAULTS.shutdownTimeoutMs,
          description: 'How long SIGINT/SIGTERM waits for in-flight batches to be delivered and committed.',
        },
        retry: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            initialDelayMs: { type: 'integer', minimum: 1, default: DELIVERY_DEFAULTS.retry.initialDelayMs },
            maxDelayMs: { type: 'integer', minimum: 1, default: DELIVERY_DEFAULTS.retry.maxDelayMs },
            maxAttempts: {
              type: 'integer',
              minimum: 0,
              default: DELIVERY_DEFAULTS.retry.maxAttempts,
              description: 'Give up (exit 1, nothing committed past the failure) after this many attempts; 0 = retry until stopped.',
            },
          },
        },
      },
    },
    state: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        dir: { type: 'string', description: 'State directory (relative to the working directory); `--state-dir` overrides. Default `.stockbridge`.' },
        synchronous: { enum: ['NORMAL', 'FULL'], default: 'NORMAL', description: 'FULL also survives power loss (fsync per commit).' },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { port: { type: 'integer', minimum: 1, maximum: 65535, description: 'Serve Prometheus /metrics here.' } },
    },
  },
};

function componentSchema(specs: ConnectorSpec[]): JsonSchema {
  return {
    type: 'object',
    required: ['type'],
    properties: { type: { enum: specs.map((s) => s.name) }, name: component.properties.name },
    allOf: specs.map((s) => ({
      if: { properties: { type: { const: s.name } } },
      then: {
        description: s.summary,
        properties: { ...((s.options.properties as object) ?? {}), type: true, name: true },
        required: (s.options.required as string[]) ?? [],
        additionalProperties: false,
      },
    })),
  };
}

/** The full schema with every registered connector's options, for editors (YAML language server). */
export function pipelineJsonSchema(registry: ConnectorRegistry): JsonSchema {
  const props = basePipelineSchema.properties as Record<string, JsonSchema>;
  const of = (kind: ConnectorSpec['kind']) => registry.all().filter((s) => s.kind === kind);
  return {
    ...basePipelineSchema,
    properties: {
      ...props,
      source: { ...componentSchema(of('source')), description: props.source.description },
      processors: { type: 'array', items: componentSchema(of('processor')) },
      sinks: { type: 'array', minItems: 1, items: componentSchema(of('sink')) },
    },
  };
}
