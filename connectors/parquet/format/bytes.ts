/** A growable little-endian byte buffer. */
export class ByteSink {
  buf: Buffer;
  pos = 0;

  constructor(initial = 1024) {
    this.buf = Buffer.allocUnsafeSlow(initial); // never the shared pool: buffers may be transferred
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  u32(n: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(n >>> 0, this.pos);
    this.pos += 4;
  }

  setU32(at: number, n: number): void {
    this.buf.writeUInt32LE(n >>> 0, at);
  }

  i32(n: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(n | 0, this.pos);
    this.pos += 4;
  }

  /** An int64 held exactly in a double (|n| < 2^53). */
  i64(n: number): void {
    this.ensure(8);
    const lo = n % 0x100000000;
    const hi = Math.floor(n / 0x100000000);
    // For negative n, lo is negative and hi = floor(n / 2^32): together the two's complement halves.
    this.buf.writeUInt32LE(lo < 0 ? lo + 0x100000000 : lo, this.pos);
    this.buf.writeInt32LE(hi, this.pos + 4);
    this.pos += 8;
  }

  big64(n: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(n, this.pos);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A BYTE_ARRAY value in PLAIN encoding: 4-byte length, then the UTF-8 bytes. */
  lenString(s: string): void {
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.pos);
    this.pos += 4 + n;
  }

  /** The bytes written so far (a view: copy it before writing more if it must stay valid). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the bytes written so far, in an ArrayBuffer of its own (transferable). */
  take(): Uint8Array {
    const out = new Uint8Array(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }

  reset(): void {
    this.pos = 0;
  }
}
