/**
 * What the engine needs from a compiled mapping. Mapping files (runtime/mapping) compile to this; so does the
 * built-in `identity` mapping for records that already are canonical events.
 */
import type { InventoryEvent } from './event.ts';
import type { BoundFormat, RecordError, SourceRecord } from './spi.ts';

/** The record produced at least one event. */
export const MAPPED = 0 as const;
/** The mapping's filter dropped the record, or it produced no event: counted as filtered. */
export const FILTERED = 1 as const;

/** MAPPED, FILTERED, or the reason the record is rejected (it goes to the dead-letter store). */
export type MapOutcome = typeof MAPPED | typeof FILTERED | RecordError;

export interface MapContext {
  /** ISO-8601 UTC instant the batch was received; copied into source.receivedAt. */
  readonly receivedAt: string;
  /** Connector type of the source, copied into source.connector. */
  readonly connector: string;
}

export interface CompiledMapping {
  /** `name@version`, copied into source.mapping and Kafka headers. */
  readonly id: string;
  readonly name: string;
  readonly version: string;
  /** The input format records are decoded with. */
  readonly format: BoundFormat;
  /**
   * Map one decoded record: append its events to `out` and say what happened. Must not throw for bad data
   * (that is a reject); a throw is a bug and stops the pipeline.
   */
  map(record: SourceRecord, value: unknown, out: InventoryEvent[], ctx: MapContext): MapOutcome;
}
