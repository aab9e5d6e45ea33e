/** `null`: accepts and discards every event (benchmarks, dry runs). */
import type { Sink, SinkSpec } from '../../runtime/contracts/spi.ts';

export const nullSink: SinkSpec<Record<string, never>> = {
  kind: 'sink',
  name: 'null',
  summary: 'Discards every event; acknowledges at once (benchmarks, dry runs).',
  delivery: 'none: events are dropped on purpose',
  options: { properties: {} },
  example: 'sinks:\n  - type: null',
  create(): Sink {
    return { write: async () => {}, flush: async () => {}, close: async () => {} };
  },
};
