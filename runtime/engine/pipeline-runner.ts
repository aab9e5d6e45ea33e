/**
 * Turns a loaded pipeline file into running parts: state store, mapping, source, processors, sinks and the
 * engine. Used by `stockbridge run`, `dlq replay` and the tests.
 */
import { resolve } from 'node:path';
import type { CompiledMapping } from '../contracts/mapping.ts';
import {
  ConfigError,
  type DeadLetterInput,
  type Logger,
  type Processor,
  type Sink,
  type Source,
  type SourceContext,
  type StateStore,
} from '../contracts/spi.ts';
import type { ComponentConfig, PipelineConfig } from '../config/pipeline.ts';
import { openSqliteStore } from '../state/sqlite-store.ts';
import { Engine, type NamedSink } from './engine.ts';

export interface PrepareOptions {
  once: boolean;
  /** Overrides `state.dir` of the pipeline file. */
  stateDir?: string;
  log: Logger;
  /** Replace the configured source (dlq replay). */
  sourceOverride?: (ctx: SourceContext) => Source;
}

export interface PreparedPipeline {
  engine: Engine;
  state: StateStore;
  mapping: CompiledMapping;
  close(): Promise<void>;
}

/** Loads the pipeline's mapping (or the identity mapping). */
export async function loadPipelineMapping(cfg: PipelineConfig): Promise<CompiledMapping> {
  if (cfg.mapping === 'identity') {
    const { identityMapping } = await import('../mapping/identity.ts');
    return identityMapping({ baseDir: cfg.baseDir, pipeline: cfg.name });
  }
  // Event ids are namespaced by the mapping, not the pipeline: two pipelines reading the same record through the
  // same mapping (one to Kafka, one to the lake) give it the same id.
  const { loadMapping } = await import('../mapping/compile.ts');
  return loadMapping(cfg.mapping, { pipeline: cfg.name });
}

/** A ConfigError raised while creating a component, without a position, is reported at the component's declaration. */
async function at<T>(c: ComponentConfig, create: () => T | Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (err instanceof ConfigError && !err.location) throw new ConfigError(err.message, c.at);
    throw err;
  }
}

export function stateDirOf(cfg: PipelineConfig, override?: string): string {
  return resolve(override ?? cfg.state.dir ?? process.env.STOCKBRIDGE_STATE_DIR ?? '.stockbridge');
}

export async function preparePipeline(cfg: PipelineConfig, opts: PrepareOptions): Promise<PreparedPipeline> {
  const log = opts.log.child({ pipeline: cfg.name });
  const stateDir = stateDirOf(cfg, opts.stateDir);
  const mapping = await loadPipelineMapping(cfg);
  let deadLetterSink: Sink | undefined;
  const state = forwardDeadLetters(
    openSqliteStore(stateDir, cfg.name, { synchronous: cfg.state.synchronous }),
    () => deadLetterSink,
    log,
  );
  const controller = new AbortController();
  const deadLetter = (e: DeadLetterInput) => state.addDeadLetters([e]);
  const base = { pipeline: cfg.name, baseDir: cfg.baseDir, stateDir };
  const closers: Array<() => Promise<void>> = [];
  let engineRef: Engine | undefined;
  try {
    const sourceCtx: SourceContext = {
      pipeline: cfg.name,
      signal: controller.signal,
      once: opts.once,
      batchSize: cfg.delivery.batchSize,
      format: mapping.format,
      state,
      log: log.child({ source: cfg.source.name }),
      deadLetter,
      unitCounts: (unit) => engineRef?.unitCounts(unit),
    };
    const source = opts.sourceOverride
      ? opts.sourceOverride(sourceCtx)
      : await at(cfg.source, () => cfg.source.spec.create(cfg.source.options, { ...base, log: sourceCtx.log, source: sourceCtx } as never));
    closers.push(() => (source as Source).close());
    const processors = [];
    for (const p of cfg.processors) {
      const proc = await at(p, () => p.spec.create(p.options, { ...base, log: log.child({ processor: p.name }) } as never));
      processors.push(proc as Processor);
    }
    const sinks: NamedSink[] = [];
    for (const s of cfg.sinks) {
      const slog = log.child({ sink: s.name });
      const sink = await at(s, () =>
        s.spec.create(s.options, { ...base, log: slog, sink: { pipeline: cfg.name, state, log: slog, deadLetter } } as never),
      );
      sinks.push({ name: s.name, sink: sink as Sink });
      closers.push(() => (sink as Sink).close());
    }
    if (cfg.deadLetterSink) {
      const d = cfg.deadLetterSink;
      const dlog = log.child({ deadLetterSink: d.name });
      const sink = (await d.spec.create(d.options, {
        ...base,
        log: dlog,
        sink: { pipeline: cfg.name, state, log: dlog, deadLetter },
      } as never)) as Sink;
      closers.push(() => sink.close());
      if (typeof sink.writeDeadLetters !== 'function')
        throw new ConfigError(`deadLetter.sink: the '${d.type}' sink cannot take dead letters`, d.at);
      deadLetterSink = sink;
    }
    const engine = new Engine({
      pipeline: cfg.name,
      connector: cfg.source.type,
      source: source as Source,
      mapping,
      processors,
      sinks,
      state,
      delivery: cfg.delivery,
      log,
      stopController: controller,
    });
    engineRef = engine;
    return {
      engine,
      state,
      mapping,
      async close() {
        for (const c of closers.reverse()) await c().catch((err: Error) => log.warn({ err: err.message }, 'close failed'));
        await state.close();
      },
    };
  } catch (err) {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await state.close();
    throw err;
  }
}

/**
 * `deadLetter.sink`: every dead letter goes to the embedded store (for `dlq list/replay`) and to the sink, both
 * before the batch is acknowledged. Transient sink errors are retried with backoff.
 */
function forwardDeadLetters(store: StateStore, sink: () => Sink | undefined, log: Logger): StateStore {
  const forward = async (entries: DeadLetterInput[]): Promise<void> => {
    const s = sink();
    if (!s?.writeDeadLetters) return store.addDeadLetters(entries);
    let delay = 200;
    const toSink = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await s.writeDeadLetters!(entries);
        } catch (err) {
          if ((err as Error)?.name !== 'TransientError') throw err;
          if (attempt === 1 || attempt % 10 === 0)
            log.warn({ err: (err as Error).message, attempt }, 'dead-letter sink failed; retrying, nothing is committed meanwhile');
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 30_000);
        }
      }
    };
    await Promise.all([store.addDeadLetters(entries), toSink()]);
  };
  return new Proxy(store, {
    get(target, key) {
      if (key === 'addDeadLetters') return forward;
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
