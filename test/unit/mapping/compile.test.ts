import { describe, expect, it } from 'vitest';
import { checkEvent, type InventoryEvent } from '../../../runtime/contracts/event.ts';
import { EventIdNamespace } from '../../../runtime/contracts/event-id.ts';
import { FILTERED, MAPPED } from '../../../runtime/contracts/mapping.ts';
import { CTX, compile, compileError, mapOne, REC, scratch, withEvent } from './helpers.ts';

/** `m.yaml:line:col` of the first occurrence of `needle` in `text` (after `after`, when given). */
function at(text: string, needle: string, after = ''): string {
  const from = after ? text.indexOf(after) : 0;
  const i = text.indexOf(needle, from);
  if (i < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, i).split('\n');
  return `m.yaml:${before.length}:${before[before.length - 1].length + 1}`;
}

const HEAD = 'mapping: t\ninput: { format: jsonl }\nsource: { system: test }\n';

describe('the mapping file is checked against its schema, with positions', () => {
  it('an unknown top-level key, with a suggestion', async () => {
    const text = `${HEAD}evnt:\n  sku: sku\n`;
    expect(await compileError(text)).toMatch(
      new RegExp(`^${at(text, 'evnt')}: unknown key 'evnt' \\(did you mean event\\?\\) \\(allowed: mapping, version,`),
    );
  });

  it('a typo inside an event template', async () => {
    const text = withEvent({ quantiy: 'qty', quantity: '' });
    expect(await compileError(text)).toMatch(
      new RegExp(`^${at(text, 'quantiy')}: unknown key 'quantiy' in event \\(did you mean quantity\\?\\)`),
    );
  });

  it('a missing required section', async () => {
    expect(await compileError('mapping: t\nsource: { system: s }\nevent: {}\n')).toBe(
      "m.yaml:1:1: the mapping needs 'input'",
    );
  });

  it('a wrong type', async () => {
    const text = `${withEvent({})}validate: { field: sku }\n`;
    expect(await compileError(text)).toBe(`${at(text, '{ field')}: validate must be array`);
  });

  it('YAML syntax errors', async () => {
    const text = `${HEAD}event:\n  sku: a\n sku2: b\n`;
    expect(await compileError(text)).toMatch(/^m\.yaml:6:\d+: /);
  });

  it('a template without a required field', async () => {
    const text = withEvent({ sku: '' });
    expect(await compileError(text)).toBe(`${at(text, 'eventType')}: event has no sku`);
    const emit = `${HEAD}event:\n  eventType: "'SALE'"\n  locationId: loc\n  quantity: qty\n  unitOfMeasure: "'EA'"\n  occurredAt: ts\nemit:\n  - sku: a\n  - name: second\n    gtin: g\n`;
    expect(await compileError(emit)).toBe(
      `${at(emit, 'name: second')}: emit[1] (second) has no sku (give it here or in event:)`,
    );
  });

  it('a mapping with neither event nor emit', async () => {
    expect(await compileError(HEAD)).toBe(
      'm.yaml:1:1: a mapping needs event: (one event per record) or emit: (a list)',
    );
  });

  it('an unknown input format or option points at it', async () => {
    const text = withEvent({}).replace('{ format: jsonl }', '{ format: yaml }');
    expect(await compileError(text)).toMatch(new RegExp(`^${at(text, 'yaml }')}: input: unknown input format 'yaml'`));
    const bad = withEvent({}).replace('{ format: jsonl }', "{ format: csv, delimitr: ';' }");
    expect(await compileError(bad)).toMatch(new RegExp(`^${at(bad, 'delimitr')}: input: .*delimitr`));
  });
});

describe('expression errors point into the YAML file', () => {
  it('in a plain scalar', async () => {
    const text = withEvent({ sku: 'upper(sku) & bogus(1)' });
    expect(await compileError(text)).toBe(
      `${at(text, 'bogus')}: event.sku: unknown function bogus(); see docs/mapping-language.md for the list`,
    );
  });

  it('in a double-quoted scalar with escapes before the problem', async () => {
    const text = withEvent({ sku: '"concat(\\"a\\\\tb\\", \\"c\\") & nope(sku)"' });
    expect(await compileError(text)).toMatch(
      new RegExp(`^${at(text, 'nope')}: event.sku: unknown function nope\\(\\)`),
    );
  });

  it("in a single-quoted scalar with '' quotes", async () => {
    const text = withEvent({ sku: "'concat(''a'', sku) & nope(sku)'" });
    expect(await compileError(text)).toMatch(
      new RegExp(`^${at(text, 'nope')}: event.sku: unknown function nope\\(\\)`),
    );
  });

  it('in a block scalar over several lines', async () => {
    const text = withEvent({ quantity: "|\n    if(type == 'R',\n       qty,\n       -nope(qty))" });
    expect(await compileError(text)).toMatch(new RegExp(`^${at(text, 'nope')}: event.quantity: unknown function nope`));
  });

  it('in a folded plain scalar', async () => {
    const text = withEvent({ quantity: "if(type == 'R',\n    qty, $unknown)" });
    expect(await compileError(text)).toMatch(
      new RegExp(`^${at(text, '$unknown')}: event.quantity: unknown variable \\$unknown`),
    );
  });

  it('YAML quotes around a bare name are almost always a mistake: they are refused with the fix', async () => {
    const text = withEvent({ unitOfMeasure: "'EA'" });
    expect(await compileError(text)).toBe(
      `${at(text, "'EA'")}: event.unitOfMeasure: 'EA' is YAML quoting, so this reads the input field EA. For the text EA, quote it inside the value: "'EA'"; for the field, drop the quotes`,
    );
  });

  it('an event type written as a bare name', async () => {
    const text = withEvent({ eventType: 'SALE' });
    expect(await compileError(text)).toBe(
      `${at(text, 'SALE')}: event.eventType: SALE reads the input field SALE; for the event type write "'SALE'"`,
    );
  });

  it('a constant that is not an event type', async () => {
    const text = withEvent({ eventType: `"'SOLD'"` });
    expect(await compileError(text)).toMatch(/event\.eventType "SOLD" is not an event type \(RECEIPT, SALE,/);
  });

  it('constant fields are checked when compiling', async () => {
    expect(await compileError(withEvent({ quantity: '1.2345' }))).toMatch(
      /event\.quantity: 1\.2345 has more than 3 fraction digits/,
    );
    expect(await compileError(withEvent({ occurredAt: `"'yesterday'"` }))).toMatch(
      /event\.occurredAt: parseIso: "yesterday"/,
    );
    expect(await compileError(withEvent({ occurredAt: 'qty * 2' }))).toMatch(/event\.occurredAt: must be an instant/);
  });

  it('let: errors point at the let, cycles are found', async () => {
    const text = withEvent({ sku: '$a' }, 'let:\n  a: upper(sku)\n  b: nope()\n');
    expect(await compileError(text)).toMatch(new RegExp(`^${at(text, 'nope')}: let.b: unknown function nope`));
    const cyc = withEvent({ sku: '$a' }, 'let:\n  a: $b & x\n  b: $a\n');
    expect(await compileError(cyc)).toMatch(/let\.[ab]: \$[ab] is defined in terms of itself/);
  });
});

describe('filter, validate, lets', () => {
  it('filter drops records (FILTERED) and must be a condition', async () => {
    const m = await compile(withEvent({}, "filter: type != 'VOID'\n"));
    expect(mapOne(m, { ...REC, type: 'VOID' }).outcome).toBe(FILTERED);
    expect(mapOne(m, { ...REC, type: 'SALE' }).outcome).toBe(MAPPED);
    const bad = await compile(withEvent({}, 'filter: type\n'));
    expect(mapOne(bad, { ...REC, type: 'Y' }).outcome).toEqual({
      stage: 'map',
      reason: 'filter must be true or false, got "Y"',
      field: 'filter',
    });
    expect(await compileError(withEvent({}, 'filter: upper(type)\n'))).toMatch(/filter must be a condition/);
  });

  it('validation rules reject with a reason naming the field', async () => {
    const rules = `validate:
  - field: sku
    required: true
    pattern: 'SKU[0-9]+'
  - field: qty
    range: { min: 0, max: 100 }
  - field: type
    oneOf: [SALE, RETURN]
  - check: qty != 13
    message: unlucky quantity
  - field: gtin
    pattern: '[0-9]{13}'
    when: type == 'SALE'
`;
    const m = await compile(withEvent({}, rules));
    const r = (v: Record<string, unknown>) => mapOne(m, { ...REC, type: 'SALE', ...v }).outcome;
    expect(r({})).toBe(MAPPED);
    expect(r({ sku: '' })).toEqual({ stage: 'validate', reason: 'sku is required', field: 'sku' });
    expect(r({ sku: 'X1' })).toEqual({ stage: 'validate', reason: 'sku "X1" does not match SKU[0-9]+', field: 'sku' });
    expect(r({ qty: '101' })).toEqual({
      stage: 'validate',
      reason: 'qty "101" is out of range [0, 100]',
      field: 'qty',
    });
    expect(r({ qty: 'many' })).toEqual({ stage: 'validate', reason: 'qty "many" is not a number', field: 'qty' });
    expect(r({ type: 'SWAP' })).toEqual({
      stage: 'validate',
      reason: 'type "SWAP" is not one of SALE, RETURN',
      field: 'type',
    });
    expect(r({ qty: '13' })).toEqual({ stage: 'validate', reason: 'unlucky quantity' });
    expect(r({ gtin: '12' })).toEqual({
      stage: 'validate',
      reason: 'gtin "12" does not match [0-9]{13}',
      field: 'gtin',
    });
    expect(r({ gtin: '12', type: 'RETURN' })).toBe(MAPPED);
    expect(await compileError(withEvent({}, 'validate:\n  - field: sku\n'))).toMatch(/this rule checks nothing/);
    expect(await compileError(withEvent({}, "validate:\n  - field: sku\n    pattern: '(['\n"))).toMatch(
      /invalid regular expression/,
    );
  });

  it('lets are evaluated lazily, once per record', async () => {
    const m = await compile(
      withEvent(
        { sku: "if(type == 'A', $fine, $broken)", attributes: '{ twice: $n & $n }' },
        "let:\n  fine: upper(sku)\n  broken: reject('evaluated')\n  n: qty * 10\n",
      ),
    );
    const a = mapOne(m, { ...REC, type: 'A', qty: '2' });
    expect(a.events[0].sku).toBe('SKU1');
    expect(a.events[0].attributes).toEqual({ twice: '2020' });
    // next record: no stale value
    const b = mapOne(m, { ...REC, type: 'A', qty: '3', sku: 'x' });
    expect(b.events[0]).toMatchObject({ sku: 'X', attributes: { twice: '3030' } });
    expect(mapOne(m, { ...REC, type: 'B' }).outcome).toEqual({ stage: 'map', reason: 'evaluated', field: 'sku' });
  });
});

describe('lookups and tables', () => {
  const stores =
    'store,location_id,timezone,"name, long"\nS001,LOC-1,Europe/Paris,"Paris, Rivoli"\n0002,LOC-2,UTC,"Quote ""Q"""\n';

  it('reads a CSV reference file relative to the mapping; unknown keys reject or default', async () => {
    const dir = scratch({ 'stores.csv': stores });
    const look = `lookups:\n  stores: { file: stores.csv, key: store, value: location_id }\n  names: { file: stores.csv, key: store, columns: ['name, long'], onMissing: default, default: '?' }\n`;
    const m = await compile(
      withEvent({ locationId: 'lookup(stores, code)', attributes: '{ n: "lookup(names, code)" }' }, look),
      dir,
    );
    expect(mapOne(m, { ...REC, code: 'S001' }).events[0]).toMatchObject({
      locationId: 'LOC-1',
      attributes: { n: 'Paris, Rivoli' },
    });
    expect(mapOne(m, { ...REC, code: '0002' }).events[0].attributes).toEqual({ n: 'Quote "Q"' });
    expect(mapOne(m, { ...REC, code: '2' }).outcome).toEqual({
      stage: 'map',
      reason: 'no entry for "2" in lookup stores',
      field: 'locationId',
    });
  });

  it('reads JSON reference files (rows, or an object keyed by the key)', async () => {
    const dir = scratch({
      'rows.json': JSON.stringify([
        { code: 'A', loc: 'L-A' },
        { code: 'B', loc: 'L-B' },
      ]),
      'map.json': JSON.stringify({ A: 'X-A', B: 'X-B' }),
    });
    const look =
      'lookups:\n  rows: { file: rows.json, key: code }\n  map: { file: map.json, key: code, columns: [loc] }\n';
    const m = await compile(withEvent({ locationId: 'lookup(rows, code) & lookup(map, code)' }, look), dir);
    expect(mapOne(m, { ...REC, code: 'B' }).events[0].locationId).toBe('L-BX-B');
  });

  it('reference file problems are reported at the lookup', async () => {
    const dir = scratch({ 'dup.csv': 'k,v\na,1\nb,2\na,3\n', 'bad.csv': 'k,v\na,1,2\n' });
    const missing = withEvent({}, 'lookups:\n  x: { file: nope.csv, key: k }\n');
    expect(await compileError(missing, dir)).toBe(
      `${at(missing, 'nope.csv')}: lookups.x: cannot read nope.csv: ENOENT`,
    );
    const dup = withEvent({}, 'lookups:\n  x: { file: dup.csv, key: k }\n');
    expect(await compileError(dup, dir)).toBe(
      `${at(dup, '{ file: dup')}: lookups.x: lookup x: duplicate key "a" (dup.csv:4)`,
    );
    const bad = withEvent({}, 'lookups:\n  x: { file: bad.csv, key: k }\n');
    expect(await compileError(bad, dir)).toMatch(/lookups\.x: line 2 has 3 fields, the header has 2 \(bad\.csv:2\)/);
    const col = withEvent({}, 'lookups:\n  x: { file: dup.csv, key: code }\n');
    expect(await compileError(col, dir)).toMatch(/key column "code" is not in .*dup\.csv \(columns: k, v\)/);
  });

  it('inline rule tables: composite keys, list or map rows, text kept as written', async () => {
    const tables = `tables:
  movements:
    key: [bwart, shkzg]
    columns: [eventType, sign]
    rows:
      - ['101', S, RECEIPT, 1]
      - ['102', H, RECEIPT, -1]
      - { bwart: '601', shkzg: H, eventType: SALE, sign: -1 }
    onMissing: default
    default: { eventType: ADJUSTMENT, sign: 1 }
  plants:
    map: { 0001: PLANT-A, 1000: PLANT-B }
`;
    const m = await compile(
      withEvent(
        {
          eventType: "lookup(movements, [bwart, shkzg], 'eventType')",
          quantity: "qty * lookup(movements, [bwart, shkzg], 'sign')",
          locationId: 'lookup(plants, werks)',
        },
        tables,
      ),
    );
    const e = (v: Record<string, unknown>) => mapOne(m, { ...REC, ...v });
    expect(e({ bwart: '101', shkzg: 'S', werks: '0001' }).events[0]).toMatchObject({
      eventType: 'RECEIPT',
      quantity: '2.000',
      locationId: 'PLANT-A',
    });
    expect(e({ bwart: '102', shkzg: 'H', werks: '1000' }).events[0]).toMatchObject({ quantity: '-2.000' });
    expect(e({ bwart: '601', shkzg: 'H', werks: '1000' }).events[0]).toMatchObject({
      eventType: 'SALE',
      quantity: '-2.000',
    });
    expect(e({ bwart: '999', shkzg: 'S', werks: '1000' }).events[0]).toMatchObject({ eventType: 'ADJUSTMENT' });
    expect(e({ bwart: '101', shkzg: 'S', werks: '1' }).outcome).toEqual({
      stage: 'map',
      reason: 'no entry for "1" in table plants',
      field: 'locationId',
    });
  });

  it('table definition problems point at the row', async () => {
    const dup = withEvent(
      {},
      'tables:\n  t:\n    key: k\n    columns: [v]\n    rows:\n      - [a, 1]\n      - [a, 2]\n',
    );
    expect(await compileError(dup)).toBe(`${at(dup, '[a, 2]')}: tables.t: table t: duplicate key "a"`);
    const short = withEvent({}, 'tables:\n  t:\n    key: k\n    columns: [v, w]\n    rows:\n      - [a, 1]\n');
    expect(await compileError(short)).toBe(`${at(short, '[a, 1]')}: tables.t: row 1 has 2 cells; expected 3 (k, v, w)`);
    const none = withEvent({}, 'tables:\n  t:\n    onMissing: reject\n');
    expect(await compileError(none)).toMatch(/tables\.t: a table needs key:/);
    const dflt = withEvent({}, 'tables:\n  t:\n    map: { a: b }\n    onMissing: default\n');
    expect(await compileError(dflt)).toMatch(/onMissing: default needs a default: value/);
  });

  it('units convert quantities exactly', async () => {
    const m = await compile(
      withEvent({ quantity: "convert(qty, uom, 'EA')" }, 'units:\n  CS: 12 EA\n  PAL: 40 CS\n  KG: 1000 G\n'),
    );
    expect(mapOne(m, { ...REC, uom: 'PAL' }).events[0].quantity).toBe('960.000');
    expect(mapOne(m, { ...REC, uom: 'KG' }).outcome).toMatchObject({
      reason: 'cannot convert "KG" to "EA" (no conversion declared in units:)',
    });
    const bad = withEvent({}, 'units:\n  CS: twelve EA\n');
    expect(await compileError(bad)).toBe(
      `${at(bad, 'twelve')}: units: unit CS: write it as "<number> <unit>", e.g. "12 EA"`,
    );
    expect(await compileError(withEvent({ quantity: "convert(qty, 'XX', 'EA')" }, 'units:\n  CS: 12 EA\n'))).toMatch(
      /unit "XX" is not declared in units:/,
    );
  });
});

describe('events', () => {
  it('one event with lineage, references and attributes', async () => {
    const m = await compile(
      withEvent({
        gtin: 'gtin',
        locationType: `"'STORE'"`,
        references: '{ documentId: doc, documentLine: 1, orderId: missing }',
        attributes: '{ price: price, empty: "\'\'", none: missing, n: 2.50 }',
      }),
      scratch(),
      { pipeline: 'p1' },
    );
    const { outcome, events } = mapOne(m, { ...REC, gtin: '', doc: 'D1', price: '9.99' }, 'in.csv:7');
    expect(outcome).toBe(MAPPED);
    expect(events[0]).toEqual({
      schemaVersion: 1,
      eventId: new EventIdNamespace('t').id('in.csv:7', '0'),
      eventType: 'SALE',
      sku: 'SKU1',
      gtin: null,
      locationId: 'L1',
      locationType: 'STORE',
      quantity: '2.000',
      unitOfMeasure: 'EA',
      occurredAt: '2026-01-05T10:00:00.000Z',
      // the canonical references object: all six keys, null when not given
      references: {
        documentId: 'D1',
        documentLine: '1',
        orderId: null,
        transferId: null,
        counterpartLocationId: null,
        reasonCode: null,
      },
      source: {
        system: 'test',
        connector: CTX.connector,
        recordRef: 'in.csv:7',
        receivedAt: CTX.receivedAt,
        pipeline: 'p1',
        mapping: 't@1',
      },
      attributes: { price: '9.99', n: '2.5' },
    });
    expect(checkEvent(events[0])).toBeNull();
  });

  it('emit: one transfer line becomes TRANSFER_OUT and TRANSFER_IN sharing a transfer id; when: skips', async () => {
    const text = `${HEAD}event:
  sku: sku
  quantity: qty
  unitOfMeasure: "'EA'"
  occurredAt: ts
  references: { transferId: tid }
emit:
  - name: out
    eventType: "'TRANSFER_OUT'"
    locationId: from
    quantity: -qty
    references: { counterpartLocationId: to }
  - name: in
    when: received
    eventType: "'TRANSFER_IN'"
    locationId: to
    references: { counterpartLocationId: from }
`;
    const m = await compile(text);
    const both = mapOne(m, { ...REC, tid: 'T1', from: 'A', to: 'B', received: true });
    expect(
      both.events.map((e) => [
        e.eventType,
        e.locationId,
        e.quantity,
        e.references?.transferId,
        e.references?.counterpartLocationId,
      ]),
    ).toEqual([
      ['TRANSFER_OUT', 'A', '-2.000', 'T1', 'B'],
      ['TRANSFER_IN', 'B', '2.000', 'T1', 'A'],
    ]);
    expect(new Set(both.events.map((e) => e.eventId)).size).toBe(2);
    const out = mapOne(m, { ...REC, tid: 'T1', from: 'A', to: 'B', received: false });
    expect(out.events.map((e) => e.eventType)).toEqual(['TRANSFER_OUT']);
    expect(out.events[0].eventId).toBe(both.events[0].eventId);
  });

  it('forEach: one event per item; a single object counts as one item; null or empty gives none (FILTERED)', async () => {
    const text = `${HEAD}emit:
  - forEach: items
    when: $item.qty != 0
    eventType: "'COUNT'"
    sku: $item.sku
    locationId: store
    quantity: $item.qty
    unitOfMeasure: "'EA'"
    occurredAt: ts
    references: { documentLine: $index + 1 }
`;
    const m = await compile(text);
    const r = mapOne(m, {
      store: 'S1',
      ts: REC.ts,
      items: [
        { sku: 'A', qty: 5 },
        { sku: 'B', qty: 0 },
        { sku: 'C', qty: '2.5' },
      ],
    });
    expect(r.events.map((e) => [e.sku, e.quantity, e.references?.documentLine])).toEqual([
      ['A', '5.000', '1'],
      ['C', '2.500', '3'],
    ]);
    const ns = new EventIdNamespace('t');
    expect(r.events.map((e) => e.eventId)).toEqual([ns.id('in.csv:2', '0.0'), ns.id('in.csv:2', '0.2')]);
    expect(mapOne(m, { store: 'S1', ts: REC.ts, items: { sku: 'A', qty: 1 } }).events).toHaveLength(1);
    expect(mapOne(m, { store: 'S1', ts: REC.ts, items: null }).outcome).toBe(FILTERED);
    expect(mapOne(m, { store: 'S1', ts: REC.ts, items: [] }).outcome).toBe(FILTERED);
    expect(await compileError(withEvent({ sku: '$item.sku' }))).toMatch(
      /\$item only exists in event templates with forEach/,
    );
  });

  it('a reject keeps none of the record’s events', async () => {
    const text = `${HEAD}emit:
  - forEach: items
    eventType: "'COUNT'"
    sku: $item.sku
    locationId: "'L'"
    quantity: $item.qty
    unitOfMeasure: "'EA'"
    occurredAt: ts
`;
    const m = await compile(text);
    const out: InventoryEvent[] = [];
    m.map({ ref: 'r1' }, { ts: REC.ts, items: [{ sku: 'A', qty: 1 }] }, out, CTX);
    const o = m.map(
      { ref: 'r2' },
      {
        ts: REC.ts,
        items: [
          { sku: 'A', qty: 1 },
          { sku: 'B', qty: -1 },
        ],
      },
      out,
      CTX,
    );
    expect(o).toEqual({
      stage: 'validate',
      reason: 'quantity of a COUNT is an absolute level and cannot be negative',
      field: 'quantity',
    });
    expect(out.map((e) => e.source.recordRef)).toEqual(['r1']);
  });

  it('event ids: from the record ref, the declared key and the event index; keyOnly leaves the ref out', async () => {
    const ns = new EventIdNamespace('t');
    const plain = await compile(withEvent({}));
    expect(mapOne(plain, REC, 'a.csv:3').events[0].eventId).toBe(ns.id('a.csv:3', '0'));
    expect(mapOne(plain, REC, 'a.csv:3').events[0].eventId).toBe(mapOne(plain, REC, 'a.csv:3').events[0].eventId);
    expect(mapOne(plain, REC, 'a.csv:3').events[0].eventId).not.toBe(mapOne(plain, REC, 'b.csv:3').events[0].eventId);
    // records sharing a ref (several records in one message) are told apart by the key
    const keyed = await compile(withEvent({}, 'key: [store, ticket]\n'));
    const k1 = mapOne(keyed, { ...REC, store: 'S1', ticket: 7 }, 'msg-1').events[0].eventId;
    expect(k1).toBe(ns.id('msg-1', 'S1', '7', '0'));
    expect(mapOne(keyed, { ...REC, store: 'S1', ticket: 8 }, 'msg-1').events[0].eventId).not.toBe(k1);
    expect(mapOne(keyed, { ...REC, store: 'S1', ticket: '7' }, 'msg-1').events[0].eventId).toBe(k1);
    // keyOnly: the same business record in a re-sent file keeps its ids
    const only = await compile(withEvent({}, 'key: [store, ticket]\nkeyOnly: true\n'));
    const o1 = mapOne(only, { ...REC, store: 'S1', ticket: 7 }, 'a.csv:3').events[0].eventId;
    expect(mapOne(only, { ...REC, store: 'S1', ticket: '7' }, 'resent.csv:9').events[0].eventId).toBe(o1);
    expect(o1).toBe(ns.id('S1', '7', '0'));
    expect(await compileError(withEvent({}, 'keyOnly: true\n'))).toMatch(/keyOnly: true needs key:/);
    const other = await compile(withEvent({}), scratch(), { namespace: 'pipeline-x' });
    expect(mapOne(other, REC, 'a.csv:3').events[0].eventId).toBe(new EventIdNamespace('pipeline-x').id('a.csv:3', '0'));
  });

  it('quantities: exact, 3 digits, rounding only when the template says so', async () => {
    const m = await compile(withEvent({}));
    const q = (qty: unknown) => {
      const r = mapOne(m, { ...REC, qty });
      return r.events[0]?.quantity ?? r.outcome;
    };
    expect(q('12')).toBe('12.000');
    expect(q(2.5)).toBe('2.500');
    expect(q('1,5')).toEqual({ stage: 'map', reason: '"1,5" is not a number', field: 'quantity' });
    expect(q('1.2345')).toEqual({
      stage: 'map',
      reason: '1.2345 has more than 3 fraction digits; round it explicitly (round(x, 3)) or set round: on the event',
      field: 'quantity',
    });
    expect(q('1234567890123456')).toMatchObject({ reason: expect.stringMatching(/exceeds decimal\(18,3\)/) });
    expect(q('')).toMatchObject({ reason: 'quantity must be an exact decimal with 3 fraction digits, got null' });
    const r = await compile(withEvent({ round: 'half-even', quantity: '-qty' }));
    expect(mapOne(r, { ...REC, qty: '1.0005' }).events[0].quantity).toBe('-1.000');
    expect(mapOne(r, { ...REC, qty: '1.0015' }).events[0].quantity).toBe('-1.002');
    const c = await compile(withEvent({ round: 'ceiling', quantity: '-qty' }));
    expect(mapOne(c, { ...REC, qty: '1.0005' }).events[0].quantity).toBe('-1.000');
  });

  it('occurredAt: instants normalised to UTC; local text without a zone is a reject', async () => {
    const m = await compile(withEvent({}));
    const t = (ts: unknown) => {
      const r = mapOne(m, { ...REC, ts });
      return r.events[0]?.occurredAt ?? r.outcome;
    };
    expect(t('2026-01-05T10:00:00+01:00')).toBe('2026-01-05T09:00:00.000Z');
    expect(t('2026-01-05T10:00:00.123456Z')).toBe('2026-01-05T10:00:00.123456Z');
    expect(t('2026-01-05T10:00:00')).toMatchObject({
      field: 'occurredAt',
      reason: expect.stringMatching(/has no UTC offset/),
    });
    expect(t(12)).toMatchObject({ field: 'occurredAt', reason: 'expected an instant, got 12' });
  });

  it('every event passes checkEvent; the compiled check reports checkEvent’s message', async () => {
    const m = await compile(withEvent({ eventType: 'type', unitOfMeasure: 'uom' }));
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ type: 'SOLD', uom: 'EA' }, 'eventType must be one of'],
      [{ type: 'SALE', uom: '' }, 'unitOfMeasure must be a non-empty string'],
      [{ type: 'SALE', uom: 'EA', sku: '' }, 'sku must be a non-empty string'],
      [{ type: 'SALE', uom: 'EA', loc: null }, 'locationId must be a non-empty string'],
      [{ type: 'COUNT', uom: 'EA', qty: '-1' }, 'quantity of a COUNT is an absolute level'],
      [{ type: 'SALE', uom: 'EA', ts: null }, 'occurredAt must be an ISO-8601 UTC instant'],
    ];
    for (const [v, reason] of cases) {
      const r = mapOne(m, { ...REC, ...v });
      expect(r.outcome, reason).toMatchObject({ stage: 'validate', reason: expect.stringContaining(reason) });
    }
    expect(mapOne(m, { ...REC, type: 'SNAPSHOT', uom: 'EA' }).outcome).toBe(MAPPED);
  });

  it('$meta, $record.ref, and records the decoder already rejected', async () => {
    const m = await compile(withEvent({ attributes: '{ file: $meta.file, ref: $record.ref }' }));
    expect(mapOne(m, REC, 'x.csv:4', { file: 'x.csv' }).events[0].attributes).toEqual({
      file: 'x.csv',
      ref: 'x.csv:4',
    });
    const err = { stage: 'decode' as const, reason: 'bad quote', line: 4 };
    expect(m.map({ ref: 'x', error: err }, undefined, [], CTX)).toBe(err);
    expect(m.map({ ref: '' }, REC, [], CTX)).toMatchObject({ reason: 'source.recordRef must be a non-empty string' });
    expect(m.map({ ref: 'x' }, REC, [], { ...CTX, receivedAt: 'now' })).toMatchObject({
      reason: 'source.receivedAt must be an ISO-8601 UTC instant ending in Z',
    });
  });

  it('hashEventIds: false keeps the unhashed id name (benchmarks and debugging)', async () => {
    const m = await compile(withEvent({}), scratch(), { hashEventIds: false });
    expect(mapOne(m, REC, 'a.csv:3').events[0].eventId).toBe('a.csv:3\u001f0');
  });
});

describe('YAML conveniences', () => {
  it('anchors and aliases work for expressions', async () => {
    const text = `${HEAD}let:\n  ts: &when parseIso(ts)\nevent:\n  eventType: "'SALE'"\n  sku: sku\n  locationId: loc\n  quantity: qty\n  unitOfMeasure: "'EA'"\n  occurredAt: *when\n`;
    const m = await compile(text);
    expect(mapOne(m, REC).events[0].occurredAt).toBe('2026-01-05T10:00:00.000Z');
  });

  it('merge keys are not a thing: event: + emit: merge instead', async () => {
    const text = `${withEvent({})}emit:\n  - <<: {}\n`;
    expect(await compileError(text)).toMatch(/unknown key '<<' in emit\[0\]/);
  });
});
