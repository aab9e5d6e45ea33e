import { describe, expect, it } from 'vitest';
import {
  compilePattern,
  formatInstant,
  getZone,
  isoOfEpochMicros,
  PatternError,
  parseIso,
  parseWithPattern,
} from '../../../runtime/mapping/datetime.ts';
import { MapFault } from '../../../runtime/mapping/fault.ts';

const zone = (n: string) => {
  const z = getZone(n);
  if (!z) throw new Error(n);
  return z;
};
const parse = (text: string, pattern: string, z: string | null) =>
  parseWithPattern(text, compilePattern(pattern), z === null ? null : zone(z));

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MapFault) return e.reason;
    if (e instanceof PatternError) return e.message;
    throw e;
  }
  throw new Error('expected a failure');
}

/** Independent oracle: the wall clock of an instant in a zone, via Intl. */
function wallClock(iso: string, tz: string): string {
  const f = new Intl.DateTimeFormat('en-CA', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.year}${p.month}${p.day}${p.hour}${p.minute}${p.second}`;
}

describe('parseDate with a pattern and a zone', () => {
  it('gives the instant whose wall clock in the zone is the text (random times, 8 zones, 1990-2040)', () => {
    const zones = [
      'Europe/Paris',
      'America/New_York',
      'America/St_Johns',
      'Asia/Kolkata',
      'Australia/Lord_Howe',
      'Pacific/Chatham',
      'Asia/Tokyo',
      'UTC',
    ];
    let x = 12345;
    const next = () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x;
    };
    let checked = 0;
    for (let i = 0; i < 2000; i++) {
      const tz = zones[i % zones.length];
      const ms = Date.UTC(1990, 0, 1) + (next() % 1_577_000_000) * 1000;
      const local = wallClock(new Date(ms).toISOString(), tz);
      const iso = parse(local, 'yyyyMMddHHmmss', tz);
      expect(wallClock(iso, tz), `${local} ${tz}`).toBe(local);
      // ambiguous wall times resolve to the earlier instant: one hour (or 30 min) before does not show the same time
      for (const back of [1800_000, 3600_000])
        if (wallClock(new Date(Date.parse(iso) - back).toISOString(), tz) === local)
          throw new Error(`${local} ${tz}: an earlier instant shows the same wall clock`);
      checked++;
    }
    expect(checked).toBe(2000);
  });

  it('DST in Paris: a gap moves forward, an overlap takes the earlier (summer) instant', () => {
    expect(parse('20240331 023000', 'yyyyMMdd HHmmss', 'Europe/Paris')).toBe('2024-03-31T01:30:00.000Z');
    expect(parse('20241027 023000', 'yyyyMMdd HHmmss', 'Europe/Paris')).toBe('2024-10-27T00:30:00.000Z');
    expect(parse('20241027 033000', 'yyyyMMdd HHmmss', 'Europe/Paris')).toBe('2024-10-27T02:30:00.000Z');
  });

  it('date-only patterns give local midnight', () => {
    expect(parse('20240301', 'yyyyMMdd', 'Europe/Paris')).toBe('2024-02-29T23:00:00.000Z');
    expect(parse('2024-07-01', 'yyyy-MM-dd', 'America/New_York')).toBe('2024-07-01T04:00:00.000Z');
  });

  it('reads the other pattern letters', () => {
    expect(parse('1/3/2024 9:05:07 PM', 'd/M/yyyy h:mm:ss a', 'UTC')).toBe('2024-03-01T21:05:07.000Z');
    expect(parse('12:00 am 01-Mar-24', 'hh:mm a dd-MMM-yy', 'UTC')).toBe('2024-03-01T00:00:00.000Z');
    expect(parse('15 March 2024', 'dd MMMM yyyy', 'UTC')).toBe('2024-03-15T00:00:00.000Z');
    expect(parse('2024-03-01T10:00:00.123', "yyyy-MM-dd'T'HH:mm:ss.SSS", 'UTC')).toBe('2024-03-01T10:00:00.123Z');
    expect(parse('2024-03-01 10:00:00.123456', 'yyyy-MM-dd HH:mm:ss.SSSSSS', 'UTC')).toBe(
      '2024-03-01T10:00:00.123456Z',
    );
    expect(parse('2024-03-01 at 10h', "yyyy-MM-dd 'at' HH'h'", 'UTC')).toBe('2024-03-01T10:00:00.000Z');
  });

  it('an offset in the text wins over the zone, and replaces it', () => {
    expect(parse('2024-03-01T10:00:00+02:00', "yyyy-MM-dd'T'HH:mm:ssXXX", 'Europe/Paris')).toBe(
      '2024-03-01T08:00:00.000Z',
    );
    expect(parse('2024-03-01T10:00:00Z', "yyyy-MM-dd'T'HH:mm:ssXXX", null)).toBe('2024-03-01T10:00:00.000Z');
    expect(parse('20240301100000-0530', 'yyyyMMddHHmmssZ', null)).toBe('2024-03-01T15:30:00.000Z');
  });

  it('fixed-offset zones need no time zone database', () => {
    expect(parse('20240301 100000', 'yyyyMMdd HHmmss', '+05:30')).toBe('2024-03-01T04:30:00.000Z');
    expect(zone('-0800').fixed).toBe(-8 * 3600_000);
    expect(getZone('Mars/Olympus')).toBeNull();
    expect(getZone('+25:00')).toBeNull();
  });

  it.each([
    ['20240231', 'yyyyMMdd', /day 31 out of range for 2024-02/],
    ['20241301', 'yyyyMMdd', /month 13 out of range/],
    ['2024030', 'yyyyMMdd', /expected 2 digits/],
    ['202403011', 'yyyyMMdd', /unexpected "1" at position 9/],
    ['2024-03-01', 'yyyyMMdd', /expected 2 digits at position 5/],
    ['20240301 256000', 'yyyyMMdd HHmmss', /hour 25 out of range/],
    ['13:00 PM', 'hh:mm a', /hour 13 is not a 12-hour clock hour/],
  ])('refuses %j for %j', (text, pattern, why) => {
    expect(reason(() => parse(text, pattern, 'UTC'))).toMatch(why);
  });

  it('a wall clock without zone or offset is refused', () => {
    expect(reason(() => parse('20240301', 'yyyyMMdd', null))).toMatch(/no UTC offset and no time zone/);
  });

  it.each([
    ['YYYY-MM-dd', /year is yyyy/],
    ['yyyy-MM-DD', /day of month is dd/],
    ['yyy', /use yyyy or yy/],
    ['hh:mm', /go together/],
    ["yyyy 'open", /unterminated quote/],
    ['yyyy-MM-dd q', /unknown pattern letter 'q'/],
  ])('refuses the pattern %j', (pattern, why) => {
    expect(reason(() => compilePattern(pattern))).toMatch(why);
  });
});

describe('parseIso, fromEpoch, formatDate', () => {
  it('reads ISO-8601 with Z, an offset, or a zone for local times', () => {
    expect(parseIso('2024-03-01T10:15:00+01:00', null)).toBe('2024-03-01T09:15:00.000Z');
    expect(parseIso('2024-03-01T10:15:00.5Z', null)).toBe('2024-03-01T10:15:00.500Z');
    expect(parseIso('2024-03-01T10:15:00.123456789Z', null)).toBe('2024-03-01T10:15:00.123456Z');
    expect(parseIso('2024-03-01 10:15', zone('Europe/Paris'))).toBe('2024-03-01T09:15:00.000Z');
    expect(parseIso('2024-03-01', zone('Asia/Tokyo'))).toBe('2024-02-29T15:00:00.000Z');
    expect(reason(() => parseIso('2024-03-01T10:15:00', null))).toMatch(/has no UTC offset; give the time zone/);
    expect(reason(() => parseIso('01/03/2024', null))).toMatch(/not an ISO-8601/);
    expect(reason(() => parseIso('2024-02-30', zone('UTC')))).toMatch(/not a valid date/);
  });

  it('epoch microseconds to instants, 6 digits only when needed', () => {
    expect(isoOfEpochMicros(1_700_000_000_000_000n)).toBe('2023-11-14T22:13:20.000Z');
    expect(isoOfEpochMicros(1_700_000_000_123_456n)).toBe('2023-11-14T22:13:20.123456Z');
    expect(isoOfEpochMicros(-1n)).toBe('1969-12-31T23:59:59.999999Z');
    expect(reason(() => isoOfEpochMicros(10n ** 20n))).toMatch(/outside years 0001-9999/);
  });

  it('formats an instant in a zone (round trip with parseDate)', () => {
    const p = compilePattern('yyyy-MM-dd HH:mm:ss XXX');
    expect(formatInstant('2024-07-01T22:30:00.000Z', p, zone('Europe/Paris'))).toBe('2024-07-02 00:30:00 +02:00');
    expect(formatInstant('2024-07-01T22:30:00.000Z', compilePattern('dd MMM yyyy h a'), zone('UTC'))).toBe(
      '01 Jul 2024 10 PM',
    );
    const text = formatInstant('2024-03-31T01:30:00.000Z', compilePattern('yyyyMMddHHmmss'), zone('Europe/Paris'));
    expect(parse(text, 'yyyyMMddHHmmss', 'Europe/Paris')).toBe('2024-03-31T01:30:00.000Z');
  });
});
