/**
 * Shared types of the expression compiler: the evaluation frame every compiled closure receives, the static type of a
 * compiled expression, and what a built-in function gets to compile a call.
 */
import type { SourceRecord } from '../contracts/spi.ts';
import type { Node } from './parser.ts';
import type { Table, Units } from './tables.ts';

/**
 * Per-mapping evaluation state, reused for every record (map() is synchronous, so one frame per compiled mapping
 * suffices and mapping a record allocates nothing but its events).
 */
export class Frame {
  rec: SourceRecord = { ref: '' };
  value: unknown = undefined;
  item: unknown = undefined;
  index = -1;
  /** Generation counters for memoised `let` values: bumped per record, and per forEach item. */
  gen = 0;
  igen = 0;
  lets: unknown[] = [];
  letGen: number[] = [];
  /** What is being evaluated (`filter`, `quantity`, `validate[2]`): names the field of a reject. */
  field: string | undefined = undefined;
  /** Key text of the record (eventId), computed once per record. */
  keyText: string | undefined = undefined;
}

export type Fn = (f: Frame) => unknown;

/**
 * Static type of an expression: what the compiler can promise about the value, used to skip conversions and to
 * report mistakes early. `num` is an exact decimal (or a JS number from the input / $index), `instant` canonical
 * ISO-8601 UTC text. Every type admits null.
 */
export type Ty = 'any' | 'text' | 'num' | 'bool' | 'instant' | 'list' | 'null';

export interface Compiled {
  fn: Fn;
  t: Ty;
  /** Set when the value is known at compile time. */
  konst?: { v: unknown };
  /** Whether the value depends on $item/$index (then it cannot be used outside forEach templates). */
  item?: boolean;
  node: Node;
}

export interface LetDef {
  name: string;
  index: number;
  node: Node;
  /** Translate an offset in the let's own expression text to an error (the let lives at another YAML position). */
  state: 'new' | 'compiling' | 'done';
  compiled?: Compiled;
  /** Error reporter bound to the let's own source position. */
  err?: (e: unknown) => never;
}

export interface Scope {
  tables: ReadonlyMap<string, Table>;
  units: Units | null;
  lets: ReadonlyMap<string, LetDef>;
  /** $item / $index are available (template with forEach). */
  item: boolean;
}

/** Compile-time error inside an expression; offsets are relative to the expression text. */
export { ExprError } from './parser.ts';

export interface CallCtx {
  node: Extract<Node, { k: 'call' }>;
  scope: Scope;
  /** Compiles argument i (memoised). */
  arg(i: number): Compiled;
  /** Compiles any sub-node of the call (e.g. the items of a list argument). */
  sub(n: Node): Compiled;
  /** Compile-time error at a node. */
  error(message: string, at?: Node): never;
}
