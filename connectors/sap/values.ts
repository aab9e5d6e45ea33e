/**
 * SAP value conventions the connectors must apply themselves (RFC runs no conversion exits): internal material
 * numbers, ALPHA-padded numbers, YYYYMMDD dates, and the idempotency key that travels in HEADER_TXT / REF_DOC_NO.
 */

/**
 * Material number in SAP's internal format (conversion exit MATN1): a purely numeric number is right-aligned with
 * leading zeros to 18 characters; anything else is upper-cased and kept as is. Throws when it does not fit.
 */
export function padMaterial(material: string, length = 18): string {
  const m = material.trim().toUpperCase();
  if (m === '') throw new Error('material number is empty');
  if (/^\d+$/.test(m)) {
    const digits = m.replace(/^0+(?=\d)/, '');
    if (digits.length > 18) throw new Error(`numeric material number ${m} has more than 18 digits`);
    return digits.padStart(18, '0');
  }
  if (m.length > length) throw new Error(`material number ${m} is longer than ${length} characters${length === 18 ? ' (S/4HANA long material numbers: materialLength: 40)' : ''}`);
  return m;
}

/** Conversion exit ALPHA: numeric values get leading zeros to `length`; others are upper-cased. */
export function alpha(value: string, length: number): string {
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    if (v.length > length) throw new Error(`${v} has more than ${length} digits`);
    return v.padStart(length, '0');
  }
  if (v.length > length) throw new Error(`${v} is longer than ${length} characters`);
  return v.toUpperCase();
}

const dateFormats = new Map<string, Intl.DateTimeFormat>();

/** The calendar date (YYYYMMDD) of an instant in a time zone (posting dates are local dates). */
export function sapDate(instant: string, timeZone = 'UTC'): string {
  const d = new Date(instant);
  if (Number.isNaN(d.getTime())) throw new Error(`not an instant: ${instant}`);
  if (timeZone === 'UTC') return instant.slice(0, 10).replaceAll('-', '');
  let f = dateFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormats.set(timeZone, f);
  }
  return f.format(d).replaceAll('-', '');
}

/** OData V2 Edm.DateTime literal of a YYYYMMDD date (midnight UTC). */
export function odataDate(yyyymmdd: string): string {
  const ms = Date.UTC(Number(yyyymmdd.slice(0, 4)), Number(yyyymmdd.slice(4, 6)) - 1, Number(yyyymmdd.slice(6, 8)));
  return `/Date(${ms})/`;
}

/**
 * The idempotency key of an event, derived from its (deterministic) event id: `SB` + the id's 128 bits in base 36,
 * cut to `length` characters (HEADER_TXT 25 → 23 base-36 digits ≈ 119 bits; REF_DOC_NO 16 → 14 digits ≈ 72 bits).
 * Upper case and digits only, so it survives SAP's text handling and OData $filter quoting.
 */
export function postingKey(eventId: string, length = 25): string {
  const hex = eventId.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`event id ${eventId} is not a UUID`);
  const n = BigInt(`0x${hex}`);
  const digits = n.toString(36).toUpperCase().padStart(25, '0');
  return `SB${digits.slice(digits.length - (length - 2))}`;
}
