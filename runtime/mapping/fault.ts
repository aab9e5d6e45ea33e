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
  constructor(reason: string, field?: string) {
    this.reason = reason;
    this.field = field;
  }
}

export function fault(reason: string, field?: string): never {
  throw new MapFault(reason, field);
}
