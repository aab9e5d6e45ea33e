/**
 * The built-in `identity` mapping: for records that already are canonical inventory events (JSON lines).
 *
 * Each record is copied field by field into a fresh event (unknown top-level fields are a reject: a producer that
 * claims to write canonical events should not invent fields), the gaps a producer cannot know are filled
 * (schemaVersion; eventId derived from the record ref when absent; source.connector / recordRef / receivedAt /
 * pipeline / mapping when absent or empty), and the result must pass checkEvent(), whose message is the reject reason.
 */
import { checkEvent, EVENT_SCHEMA_VERSION, type InventoryEvent } from '../contracts/event.ts';
import { EventIdNamespace } from '../contracts/event-id.ts';
import { type CompiledMapping, MAPPED, type MapContext, type MapOutcome } from '../contracts/mapping.ts';
import type { BoundFormat, RecordError, SourceRecord } from '../contracts/spi.ts';
import { bindFormat } from '../formats/index.ts';

export interface IdentityOptions {
  /** Event-id namespace for records without an eventId (default `identity`). */
  namespace?: string | EventIdNamespace;
  /** Directory for the format binding. */
  baseDir?: string;
  /** Copied into source.pipeline when the record has none. */
  pipeline?: string;
  /** Input format (default jsonl); bound lazily, on first use. */
  format?: string;
  formatOptions?: Record<string, unknown>;
}

const KNOWN = new Set([
  'schemaVersion',
  'eventId',
  'eventType',
  'sku',
  'gtin',
  'locationId',
  'locationType',
  'quantity',
  'unitOfMeasure',
  'occurredAt',
  'references',
  'source',
  'attributes',
]);

const ID = 'identity@1';

function given(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function reject(reason: string, field?: string): RecordError {
  return field ? { stage: 'validate', reason, field } : { stage: 'validate', reason };
}

export function identityMapping(opts: IdentityOptions = {}): CompiledMapping {
  const ns =
    opts.namespace instanceof EventIdNamespace ? opts.namespace : new EventIdNamespace(opts.namespace ?? 'identity');
  const pipeline = opts.pipeline ?? null;
  let format: BoundFormat | undefined;

  const map = (rec: SourceRecord, value: unknown, out: InventoryEvent[], ctx: MapContext): MapOutcome => {
    if (rec.error) return rec.error;
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return reject('a canonical event must be a JSON object');
    const v = value as Record<string, unknown>;
    // Object.keys, not for-in: decoded Avro records inherit enumerable methods (clone, toBuffer, …).
    for (const k of Object.keys(v))
      if (!KNOWN.has(k)) return reject(`unknown field '${k}' (not part of the canonical event)`, k);
    if (v.schemaVersion !== undefined && v.schemaVersion !== EVENT_SCHEMA_VERSION)
      return reject(
        `schemaVersion ${JSON.stringify(v.schemaVersion)} is not supported (expected ${EVENT_SCHEMA_VERSION})`,
        'schemaVersion',
      );
    const s = v.source;
    if (s !== undefined && s !== null && (typeof s !== 'object' || Array.isArray(s)))
      return reject('source must be an object', 'source');
    const src = (s ?? {}) as Record<string, unknown>;
    const e: InventoryEvent = {
      schemaVersion: EVENT_SCHEMA_VERSION,
      eventId: given(v.eventId) ? (v.eventId as string) : ns.idOf(rec.ref),
      eventType: v.eventType as InventoryEvent['eventType'],
      sku: v.sku as string,
      gtin: (v.gtin as string | null | undefined) ?? null,
      locationId: v.locationId as string,
      locationType: (v.locationType as string | null | undefined) ?? null,
      quantity: v.quantity as string,
      unitOfMeasure: v.unitOfMeasure as string,
      occurredAt: v.occurredAt as string,
      references: (v.references as InventoryEvent['references']) ?? null,
      source: {
        system: src.system as string,
        connector: given(src.connector) ? (src.connector as string) : ctx.connector,
        recordRef: given(src.recordRef) ? (src.recordRef as string) : rec.ref,
        receivedAt: given(src.receivedAt) ? (src.receivedAt as string) : ctx.receivedAt,
        pipeline: given(src.pipeline) ? (src.pipeline as string) : pipeline,
        mapping: given(src.mapping) ? (src.mapping as string) : ID,
      },
      attributes: (v.attributes as InventoryEvent['attributes']) ?? null,
    };
    if (e.references !== null && (typeof e.references !== 'object' || Array.isArray(e.references)))
      return reject('references must be an object', 'references');
    const problem = checkEvent(e);
    if (problem !== null) return reject(problem, /^([A-Za-z.]+) /.exec(problem)?.[1]);
    out.push(e);
    return MAPPED;
  };

  return {
    id: ID,
    name: 'identity',
    version: '1',
    get format(): BoundFormat {
      format ??= bindFormat(opts.format ?? 'jsonl', opts.formatOptions ?? {}, opts.baseDir ?? process.cwd());
      return format;
    },
    map,
  };
}
