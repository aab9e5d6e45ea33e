/**
 * Canonical event → SAP posting, through a config table: the first rule whose `when` matches the event gives the GM
 * code and movement type (or `skip: true`); locations map to plant + storage location, SKUs to material numbers
 * (padded as SAP expects), units to SAP units. Anything that cannot be posted (no rule, unknown location, zero
 * quantity) is a business reject: the event goes to the dead-letter store with the reason.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import { alpha, padMaterial, postingKey, sapDate } from '../sap/values.ts';
import type { Posting, PostingItem } from './posting.ts';

export interface RuleWhen {
  eventType?: string | string[];
  /** Sign of the event quantity. */
  sign?: 'positive' | 'negative';
  reasonCode?: string | string[];
  locationType?: string | string[];
}

export interface PostingRule {
  when?: RuleWhen;
  skip?: boolean;
  gmCode?: string;
  movementType?: string;
  /** Transfers between plants (the counterpart location is in another plant): e.g. 301 instead of 311. */
  crossPlantMovementType?: string;
  stockType?: string;
  specialStock?: string;
  moveReason?: string;
  costCenter?: string;
  itemText?: string;
}

export interface Location {
  plant: string;
  storageLocation: string;
}

export interface RulesConfig {
  rules?: PostingRule[];
  locations?: Record<string, Location>;
  locationsFile?: string;
  defaultStorageLocation?: string;
  materials?: Record<string, string>;
  materialsFile?: string;
  units?: Record<string, string>;
  unitIso?: boolean;
  materialLength?: 18 | 40;
  timeZone?: string;
  keyField?: 'headerText' | 'referenceDocument';
}

/** Used when `rules` is not configured: a retail default (review it with your SAP team). */
export const DEFAULT_RULES: PostingRule[] = [
  { when: { eventType: 'RECEIPT', sign: 'positive' }, gmCode: '05', movementType: '501' },
  { when: { eventType: 'SALE', sign: 'negative' }, gmCode: '03', movementType: '251' },
  { when: { eventType: 'RETURN', sign: 'positive' }, gmCode: '05', movementType: '252' },
  { when: { eventType: 'ADJUSTMENT', sign: 'positive' }, gmCode: '05', movementType: '501' },
  { when: { eventType: 'ADJUSTMENT', sign: 'negative' }, gmCode: '03', movementType: '551' },
  { when: { eventType: 'TRANSFER_OUT' }, gmCode: '04', movementType: '311', crossPlantMovementType: '301' },
  { when: { eventType: ['TRANSFER_IN', 'COUNT', 'SNAPSHOT'] }, skip: true },
];

export type Prepared = { kind: 'post'; posting: Posting } | { kind: 'skip' } | { kind: 'reject'; reason: string };

const listOf = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

/** A small CSV reader for the reference files (header row; values may be double-quoted). */
export function readCsv(file: string): Array<Record<string, string>> {
  const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  const rows: string[][] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const cells: string[] = [];
    let cur = '';
    let q = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (q) {
        if (c === '"' && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (c === '"') q = false;
        else cur += c;
      } else if (c === '"') q = true;
      else if (c === ',') {
        cells.push(cur.trim());
        cur = '';
      } else cur += c;
    }
    cells.push(cur.trim());
    rows.push(cells);
  }
  const [head, ...body] = rows;
  if (!head) return [];
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i] ?? ''])));
}

export class PostingRules {
  readonly #rules: PostingRule[];
  readonly #locations = new Map<string, Location>();
  readonly #materials = new Map<string, string>();
  readonly #units: Record<string, string>;
  readonly #o: RulesConfig;
  readonly #keyLength: number;

  constructor(o: RulesConfig, baseDir: string) {
    this.#o = o;
    this.#rules = o.rules ?? DEFAULT_RULES;
    for (const [i, r] of this.#rules.entries()) {
      if (!r.skip && (!r.gmCode || !r.movementType)) throw new Error(`rules[${i}]: needs gmCode and movementType (or skip: true)`);
      if (r.gmCode && !/^0[1-7]$/.test(r.gmCode)) throw new Error(`rules[${i}]: gmCode ${r.gmCode} is not one of 01..07 (T158G)`);
      if (r.movementType && !/^[0-9A-Z]{3}$/.test(r.movementType)) throw new Error(`rules[${i}]: movementType ${r.movementType} is not a 3-character movement type`);
    }
    for (const [id, loc] of Object.entries(o.locations ?? {})) this.#locations.set(id, loc);
    if (o.locationsFile)
      for (const row of readCsv(resolve(baseDir, o.locationsFile))) {
        if (!row.locationId || !row.plant) throw new Error(`${o.locationsFile}: needs columns locationId, plant, storageLocation`);
        this.#locations.set(row.locationId, { plant: row.plant, storageLocation: row.storageLocation ?? '' });
      }
    for (const [sku, m] of Object.entries(o.materials ?? {})) this.#materials.set(sku, m);
    if (o.materialsFile)
      for (const row of readCsv(resolve(baseDir, o.materialsFile))) {
        if (!row.sku || !row.material) throw new Error(`${o.materialsFile}: needs columns sku, material`);
        this.#materials.set(row.sku, row.material);
      }
    this.#units = o.units ?? {};
    this.#keyLength = (o.keyField ?? 'headerText') === 'headerText' ? 25 : 16;
  }

  /** Plant + storage location of a location id: the table, else `PLNT/SLOC` or `PLNT-SLOC`, else a plant id. */
  location(id: string): Location | undefined {
    const known = this.#locations.get(id);
    if (known) return known;
    const m = /^([A-Z0-9]{4})[/-]([A-Z0-9]{1,4})$/.exec(id);
    if (m) return { plant: m[1], storageLocation: m[2] };
    if (/^[A-Z0-9]{4}$/.test(id) && this.#o.defaultStorageLocation) return { plant: id, storageLocation: this.#o.defaultStorageLocation };
    return undefined;
  }

  #rule(e: InventoryEvent): PostingRule | undefined {
    const negative = e.quantity.startsWith('-');
    for (const r of this.#rules) {
      const w = r.when ?? {};
      if (w.eventType && !listOf(w.eventType)!.includes(e.eventType)) continue;
      if (w.sign && (w.sign === 'negative') !== negative) continue;
      if (w.reasonCode && !listOf(w.reasonCode)!.includes(e.references?.reasonCode ?? '')) continue;
      if (w.locationType && !listOf(w.locationType)!.includes(e.locationType ?? '')) continue;
      return r;
    }
    return undefined;
  }

  prepare(e: InventoryEvent): Prepared {
    const rule = this.#rule(e);
    const qty = e.quantity.replace(/^-/, '');
    if (!rule) return { kind: 'reject', reason: `no posting rule for a ${e.eventType} with quantity ${e.quantity}` };
    if (rule.skip) return { kind: 'skip' };
    if (/^0\.0+$/.test(qty)) return { kind: 'reject', reason: 'quantity 0 cannot be posted' };
    const loc = this.location(e.locationId);
    if (!loc) return { kind: 'reject', reason: `location ${e.locationId} has no plant/storage location (locations, locationsFile)` };
    const key = postingKey(e.eventId, this.#keyLength);
    try {
      const materialLength = this.#o.materialLength ?? 18;
      const material = padMaterial(this.#materials.get(e.sku) ?? e.sku, materialLength);
      const item: PostingItem = {
        material,
        plant: loc.plant,
        storageLocation: loc.storageLocation,
        movementType: rule.movementType!,
        quantity: qty,
        unit: this.#units[e.unitOfMeasure] ?? e.unitOfMeasure,
      };
      if (material.length > 18) item.materialLong = true;
      if (this.#o.unitIso) item.unitIso = true;
      const batch = e.attributes?.batch;
      if (batch) item.batch = batch.toUpperCase();
      if (rule.stockType) item.stockType = rule.stockType;
      if (rule.specialStock) item.specialStock = rule.specialStock;
      if (rule.moveReason) item.moveReason = rule.moveReason;
      if (rule.costCenter) item.costCenter = alpha(rule.costCenter, 10);
      if (rule.itemText) item.itemText = rule.itemText.slice(0, 50);
      if (e.eventType === 'TRANSFER_OUT' || e.eventType === 'TRANSFER_IN') {
        const other = e.references?.counterpartLocationId;
        if (!other) return { kind: 'reject', reason: 'a transfer needs references.counterpartLocationId' };
        const to = this.location(other);
        if (!to) return { kind: 'reject', reason: `counterpart location ${other} has no plant/storage location` };
        const [from, into] = e.eventType === 'TRANSFER_OUT' ? [loc, to] : [to, loc];
        item.plant = from.plant;
        item.storageLocation = from.storageLocation;
        item.movePlant = into.plant;
        item.moveStorageLocation = into.storageLocation;
        if (from.plant !== into.plant && rule.crossPlantMovementType) item.movementType = rule.crossPlantMovementType;
        if (item.batch) item.moveBatch = item.batch;
      }
      const date = sapDate(e.occurredAt, this.#o.timeZone ?? 'UTC');
      const posting: Posting = {
        key,
        keyField: this.#o.keyField ?? 'headerText',
        gmCode: rule.gmCode!,
        header: { postingDate: date, documentDate: date },
        items: [item],
      };
      const doc = e.references?.documentId ?? undefined;
      if (posting.keyField === 'headerText') {
        posting.header.headerText = key;
        if (doc) posting.header.referenceDocument = doc.slice(0, 16);
      } else {
        posting.header.referenceDocument = key;
        if (doc) posting.header.headerText = doc.slice(0, 25);
      }
      return { kind: 'post', posting };
    } catch (err) {
      return { kind: 'reject', reason: (err as Error).message };
    }
  }
}
