/** `discard`: the null sink. Accepts and drops every event (benchmarks, dry runs). Not called `null` because YAML reads `type: discard` as a null value. */
import type { Sink, SinkSpec } from '../../runtime/contracts/spi.ts';

export const discardSink: SinkSpec<Record<string, never>> = {
  kind: 'sink',
  name: 'discard',
  summary: 'The null sink: drops every event and acknowledges at once (benchmarks, dry runs).',
  delivery: 'none: events are dropped on purpose',
  options: { properties: {} },
  example: 'sinks:\n  - type: discard',
  create(): Sink {
    return { write: async () => {}, flush: async () => {}, close: async () => {} };
  },
};
