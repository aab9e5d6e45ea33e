/**
 * A data problem found while mapping one record: it becomes a reject (RecordError), never a crash.
 *
 * Deliberately not an Error subclass: no stack trace is captured, so rejecting a bad record stays cheap even when a
 * file is full of them. Anything else thrown while mapping is a bug and propagates.
 */
export class MapFault {
  readonly reason: string;
  /** Field or path the problem is about, filled in by the compiler when it knows better than the thrower. */
  field: string | undefined;
  /** `validate` for validation rules and contract checks; expression problems are `map`. */
  readonly stage: 'map' | 'validate';
  constructor(reason: string, field?: string, stage: 'map' | 'validate' = 'map') {
    this.reason = reason;
    this.field = field;
    this.stage = stage;
  }
}

export function fault(reason: string, field?: string): never {
  throw new MapFault(reason, field);
}

export function invalid(reason: string, field?: string): never {
  throw new MapFault(reason, field, 'validate');
}
