/**
 * Assembles a pipeline for a pool worker: like `preparePipeline` (runtime/engine/pipeline-runner.ts), but on a
 * given state store (the shared Redis store) instead of the embedded SQLite one, and with the engine's stop
 * controller exposed so the worker can stop a singleton source when its lock is lost.
 *
 * Kept deliberately parallel to preparePipeline: component creation, ConfigError positions and the
 * `deadLetter.sink` forwarding behave the same. (A `state` option on preparePipeline would make this a one-liner.)
 */
import type { PipelineConfig, ComponentConfig } from '../config/pipeline.ts';
import { ConfigError, type DeadLetterInput, type Logger, type Processor, type Sink, type Source, type SourceContext, type StateStore } from '../contracts/spi.ts';
import { Engine, type NamedSink } from '../engine/engine.ts';
import { loadPipelineMapping, type PreparedPipeline, stateDirOf } from '../engine/pipeline-runner.ts';

export interface AssembleOptions {
  state: StateStore;
  log: Logger;
  once?: boolean;
  stateDir?: string;
  sourceOverride?: (ctx: SourceContext) => Source;
  /** Closing the pipeline also closes the state store (default false: the worker owns it). */
  closeState?: boolean;
}

async function at<T>(c: ComponentConfig, create: () => T | Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (err instanceof ConfigError && !err.location) throw new ConfigError(err.message, c.at);
    throw err;
  }
}

export async function assemblePipeline(cfg: PipelineConfig, opts: AssembleOptions): Promise<PreparedPipeline & { stop: AbortController }> {
  const log = opts.log.child({ pipeline: cfg.name });
  const stateDir = stateDirOf(cfg, opts.stateDir);
  const mapping = await loadPipelineMapping(cfg);
  let deadLetterSink: Sink | undefined;
  const state = forwardDeadLetters(opts.state, () => deadLetterSink, log);
  const controller = new AbortController();
  const deadLetter = (e: DeadLetterInput) => state.addDeadLetters([e]);
  const base = { pipeline: cfg.name, baseDir: cfg.baseDir, stateDir };
  const closers: Array<() => Promise<void>> = [];
  const closeState = async () => {
    if (opts.closeState) await opts.state.close();
  };
  let engineRef: Engine | undefined;
  try {
    const sourceCtx: SourceContext = {
      pipeline: cfg.name,
      signal: controller.signal,
      once: Boolean(opts.once),
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
    const processors: Processor[] = [];
    for (const p of cfg.processors) {
      processors.push((await at(p, () => p.spec.create(p.options, { ...base, log: log.child({ processor: p.name }) } as never))) as Processor);
    }
    const sinks: NamedSink[] = [];
    for (const s of cfg.sinks) {
      const slog = log.child({ sink: s.name });
      const sink = (await at(s, () =>
        s.spec.create(s.options, { ...base, log: slog, sink: { pipeline: cfg.name, state, log: slog, deadLetter } } as never),
      )) as Sink;
      sinks.push({ name: s.name, sink });
      closers.push(() => sink.close());
    }
    if (cfg.deadLetterSink) {
      const d = cfg.deadLetterSink;
      const dlog = log.child({ deadLetterSink: d.name });
      const sink = (await d.spec.create(d.options, { ...base, log: dlog, sink: { pipeline: cfg.name, state, log: dlog, deadLetter } } as never)) as Sink;
      closers.push(() => sink.close());
      if (typeof sink.writeDeadLetters !== 'function') throw new ConfigError(`deadLetter.sink: the '${d.type}' sink cannot take dead letters`, d.at);
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
      stop: controller,
      async close() {
        for (const c of closers.reverse()) await c().catch((err: Error) => log.warn({ err: err.message }, 'close failed'));
        await closeState();
      },
    };
  } catch (err) {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await closeState();
    throw err;
  }
}

/** `deadLetter.sink`: every dead letter goes to the (shared) store and to the sink, both before the batch is acknowledged. */
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
