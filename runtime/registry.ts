/**
 * The connector registry: the engine looks components up here by `type:`. The runtime imports no connector;
 * `connectors/index.ts` holds the one list of built-in connectors and the CLI passes it in.
 */
import type { ConnectorSpec, ProcessorSpec, SinkSpec, SourceSpec } from './contracts/spi.ts';

export class ConnectorRegistry {
  readonly #byKind = {
    source: new Map<string, SourceSpec<any>>(),
    sink: new Map<string, SinkSpec<any>>(),
    processor: new Map<string, ProcessorSpec<any>>(),
  };

  constructor(specs: readonly ConnectorSpec[] = []) {
    for (const s of specs) this.add(s);
  }

  add(spec: ConnectorSpec): this {
    const map = this.#byKind[spec.kind] as Map<string, ConnectorSpec>;
    if (map.has(spec.name)) throw new Error(`duplicate ${spec.kind} connector '${spec.name}'`);
    map.set(spec.name, spec);
    return this;
  }

  source(name: string): SourceSpec<any> | undefined {
    return this.#byKind.source.get(name);
  }

  sink(name: string): SinkSpec<any> | undefined {
    return this.#byKind.sink.get(name);
  }

  processor(name: string): ProcessorSpec<any> | undefined {
    return this.#byKind.processor.get(name);
  }

  get(kind: ConnectorSpec['kind'], name: string): ConnectorSpec | undefined {
    return this.#byKind[kind].get(name);
  }

  names(kind: ConnectorSpec['kind']): string[] {
    return [...this.#byKind[kind].keys()].sort();
  }

  all(): ConnectorSpec[] {
    return [...this.#byKind.source.values(), ...this.#byKind.sink.values(), ...this.#byKind.processor.values()];
  }
}
