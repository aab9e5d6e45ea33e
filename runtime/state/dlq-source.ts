/**
 * Replays open dead letters through the pipeline's mapping and sinks. Each record keeps its original reference,
 * so it gets the same event ids as it would have the first time. An entry is marked replayed once its batch is
 * committed; a record that is rejected again gets a new entry (with the new reason).
 */
import type { DeadLetter, Source, SourceBatch, SourceContext, StateStore } from '../contracts/spi.ts';

export class DeadLetterSource implements Source<number[]> {
  readonly #ctx: SourceContext;
  readonly #state: StateStore;
  readonly #ids?: Set<number>;

  constructor(ctx: SourceContext, ids?: number[]) {
    this.#ctx = ctx;
    this.#state = ctx.state;
    if (ids?.length) this.#ids = new Set(ids);
  }

  async *batches(): AsyncGenerator<SourceBatch<number[]>> {
    // Stop at the entries that existed when the replay started: records rejected again during the replay get new
    // entries, which must not be replayed by the same run (that would never end).
    const last = await this.#state.listDeadLetters({ afterId: 0, limit: 1_000_000_000, includeReplayed: true });
    const lastId = last.length ? last[last.length - 1].id : 0;
    let afterId = 0;
    for (;;) {
      if (this.#ctx.signal.aborted) return;
      const page = (await this.#state.listDeadLetters({ afterId, limit: this.#ctx.batchSize })).filter((d) => d.id <= lastId);
      if (page.length === 0) return;
      afterId = page[page.length - 1].id;
      const chosen = page.filter((d) => this.#replayable(d));
      if (chosen.length === 0) continue;
      yield {
        records: chosen.map((d) => ({ ref: d.ref, payload: d.payload ?? '', meta: d.meta })),
        position: chosen.map((d) => d.id),
        unit: 'dead-letters',
      };
    }
  }

  #replayable(d: DeadLetter): boolean {
    if (this.#ids && !this.#ids.has(d.id)) return false;
    if (d.stage === 'sink' || d.stage === 'source') {
      this.#ctx.log.warn({ id: d.id, stage: d.stage }, 'skipping: only records rejected by decode, mapping or validation can be replayed through the mapping');
      return false;
    }
    return d.payload !== undefined;
  }

  async commit(positions: number[][]): Promise<void> {
    await this.#state.markReplayed(positions.flat());
  }

  async close(): Promise<void> {}
}
