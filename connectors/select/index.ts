/** `select` processor: keeps only the events that match (event types, locations, SKU pattern). */
import type { InventoryEvent } from '../../runtime/contracts/event.ts';
import type { ProcessorSpec } from '../../runtime/contracts/spi.ts';

export interface SelectOptions {
  eventTypes?: string[];
  locations?: string[];
  skuPattern?: string;
}

export const selectProcessor: ProcessorSpec<SelectOptions> = {
  kind: 'processor',
  name: 'select',
  summary: 'Keeps only events matching event types, locations and/or a SKU pattern; drops the rest.',
  delivery: 'dropped events are not delivered to any sink (they still count as mapped records)',
  options: {
    properties: {
      eventTypes: { type: 'array', items: { type: 'string' }, description: 'Keep these event types.' },
      locations: { type: 'array', items: { type: 'string' }, description: 'Keep these locationIds.' },
      skuPattern: { type: 'string', format: 'regex', description: 'Keep SKUs matching this regular expression.' },
    },
  },
  example: 'processors:\n  - type: select\n    eventTypes: [SALE, RETURN]',
  create(o) {
    const types = o.eventTypes ? new Set(o.eventTypes) : undefined;
    const locs = o.locations ? new Set(o.locations) : undefined;
    const re = o.skuPattern ? new RegExp(o.skuPattern) : undefined;
    const keep = (e: InventoryEvent) =>
      (!types || types.has(e.eventType)) && (!locs || locs.has(e.locationId)) && (!re || re.test(e.sku));
    return { process: (events) => events.filter(keep) };
  },
};
