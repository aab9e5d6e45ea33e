/**
 * A minimal Thrift compact-protocol writer: just what Parquet metadata (page headers, footer) needs.
 *
 * Values are described as plain objects: `{ 1: i32(4), 2: list(...) }` where keys are Thrift field ids. A field
 * whose value is `undefined` is skipped (an unset optional). Field ids must be given in increasing order (they
 * are, for object keys that are small integers).
 */

const T_BOOL_TRUE = 1;
const T_BOOL_FALSE = 2;
const T_BYTE = 3;
const T_I16 = 4;
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

export type ThriftValue =
  | { t: 'bool'; v: boolean }
  | { t: 'i8'; v: number }
  | { t: 'i16'; v: number }
  | { t: 'i32'; v: number }
  | { t: 'i64'; v: number | bigint }
  | { t: 'binary'; v: Uint8Array | string }
  | { t: 'list'; elem: 'i32' | 'binary' | 'struct'; v: ThriftValue[] }
  | { t: 'struct'; v: ThriftStruct };

export type ThriftStruct = { [fieldId: number]: ThriftValue | undefined };

export const bool = (v: boolean): ThriftValue => ({ t: 'bool', v });
export const i8 = (v: number): ThriftValue => ({ t: 'i8', v });
export const i16 = (v: number): ThriftValue => ({ t: 'i16', v });
export const i32 = (v: number): ThriftValue => ({ t: 'i32', v });
export const i64 = (v: number | bigint): ThriftValue => ({ t: 'i64', v });
export const binary = (v: Uint8Array | string): ThriftValue => ({ t: 'binary', v });
export const struct = (v: ThriftStruct): ThriftValue => ({ t: 'struct', v });
export const list = (elem: 'i32' | 'binary' | 'struct', v: ThriftValue[]): ThriftValue => ({ t: 'list', elem, v });
/** Optional field helper: undefined stays unset. */
export const opt = <T>(v: T | undefined, f: (x: T) => ThriftValue): ThriftValue | undefined => (v === undefined ? undefined : f(v));

const typeCode: Record<'i32' | 'binary' | 'struct', number> = { i32: T_I32, binary: T_BINARY, struct: T_STRUCT };
const encoder = new TextEncoder();

export class CompactWriter {
  #buf = new Uint8Array(256);
  #pos = 0;

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  #byte(b: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = b;
  }

  #varint(n: number): void {
    // n is a non-negative integer below 2^53
    this.#ensure(10);
    while (n >= 0x80) {
      this.#buf[this.#pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#pos++] = n;
  }

  #varbig(n: bigint): void {
    this.#ensure(10);
    while (n >= 0x80n) {
      this.#buf[this.#pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.#buf[this.#pos++] = Number(n);
  }

  #zigzag32(n: number): void {
    this.#varint(((n << 1) ^ (n >> 31)) >>> 0);
  }

  #zigzag64(n: number | bigint): void {
    if (typeof n === 'number' && Number.isSafeInteger(n) && Math.abs(n) < 2 ** 52) {
      this.#varint(n >= 0 ? n * 2 : -n * 2 - 1);
      return;
    }
    const b = BigInt(n);
    this.#varbig(b >= 0n ? b << 1n : ((-b) << 1n) - 1n);
  }

  #bytes(v: Uint8Array | string): void {
    const b = typeof v === 'string' ? encoder.encode(v) : v;
    this.#varint(b.length);
    this.#ensure(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
  }

  struct(s: ThriftStruct): this {
    let last = 0;
    const ids = Object.keys(s)
      .map(Number)
      .sort((a, b) => a - b);
    for (const id of ids) {
      const f = s[id];
      if (f === undefined) continue;
      const type =
        f.t === 'bool'
          ? f.v
            ? T_BOOL_TRUE
            : T_BOOL_FALSE
          : f.t === 'list'
            ? T_LIST
            : f.t === 'i64'
              ? T_I64
              : f.t === 'i8'
                ? T_BYTE
                : f.t === 'i16'
                  ? T_I16
                  : typeCode[f.t];
      const delta = id - last;
      if (delta > 0 && delta <= 15) this.#byte((delta << 4) | type);
      else {
        this.#byte(type);
        this.#zigzag32(id);
      }
      last = id;
      this.#value(f);
    }
    this.#byte(0); // STOP
    return this;
  }

  #value(f: ThriftValue): void {
    switch (f.t) {
      case 'bool':
        return; // carried in the field header
      case 'i8':
        this.#byte(f.v & 0xff);
        return;
      case 'i16':
      case 'i32':
        this.#zigzag32(f.v);
        return;
      case 'i64':
        this.#zigzag64(f.v);
        return;
      case 'binary':
        this.#bytes(f.v);
        return;
      case 'struct':
        this.struct(f.v);
        return;
      case 'list': {
        const n = f.v.length;
        const et = typeCode[f.elem];
        if (n < 15) this.#byte((n << 4) | et);
        else {
          this.#byte(0xf0 | et);
          this.#varint(n);
        }
        for (const e of f.v) this.#value(e);
        return;
      }
    }
  }

  bytes(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
}

export function encodeStruct(s: ThriftStruct): Uint8Array {
  return new CompactWriter().struct(s).bytes();
}
