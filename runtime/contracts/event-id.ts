import { hash } from 'node:crypto';

/**
 * Deterministic event ids: RFC 9562 (RFC 4122) UUID version 5, i.e. SHA-1 over a namespace UUID and a name.
 *
 * The namespace is derived from a stable string (by default `<pipeline>/<mapping>`), the name from the
 * record's source coordinates (record reference, declared key fields, index of the event within the record).
 * Replaying the same record through the same mapping gives the same id, which is what lets downstream
 * consumers and the SAP posting outbox drop duplicates. Anyone can recompute an id, e.g. in Python:
 *   uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, 'stockbridge:' + ns), '\x1f'.join(parts))
 */

const NAMESPACE_URL = uuidBytes('6ba7b811-9dad-11d1-80b4-00c04fd430c8');
const SEP = '\u001f';

let scratch = Buffer.allocUnsafe(4096);

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

function format(digest: Buffer): string {
  digest[6] = (digest[6] & 0x0f) | 0x50; // version 5
  digest[8] = (digest[8] & 0x3f) | 0x80; // RFC variant
  const h = digest.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function uuid5(ns: Buffer, name: string): string {
  const max = 16 + Buffer.byteLength(name, 'utf8');
  if (max > scratch.length) scratch = Buffer.allocUnsafe(max * 2);
  ns.copy(scratch, 0, 0, 16);
  const n = scratch.write(name, 16, 'utf8');
  return format(hash('sha1', scratch.subarray(0, 16 + n), 'buffer') as Buffer);
}

/** A namespace for event ids, computed once per pipeline/mapping. */
export class EventIdNamespace {
  readonly uuid: string;
  readonly #bytes: Buffer;

  readonly name: string;

  constructor(name: string) {
    this.name = name;
    this.uuid = uuid5(NAMESPACE_URL, `stockbridge:${name}`);
    this.#bytes = uuidBytes(this.uuid);
  }

  /** The id for one event, from the record's coordinates; parts are joined with U+001F. */
  id(...parts: ReadonlyArray<string | number>): string {
    return uuid5(this.#bytes, parts.length === 1 ? String(parts[0]) : parts.join(SEP));
  }

  /** Same as id() for a pre-joined name (hot path: avoids the rest-array). */
  idOf(name: string): string {
    return uuid5(this.#bytes, name);
  }
}

export const EVENT_ID_SEPARATOR = SEP;
