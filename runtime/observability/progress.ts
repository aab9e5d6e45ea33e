/**
 * A live progress line on stderr when it is a TTY (rate, totals, rejects); silent otherwise, so logs, cron and
 * CI output stay clean.
 */
export interface ProgressCounts {
  recordsIn: number;
  eventsOut: number;
  recordsRejected: number;
  recordsFiltered: number;
}

export class ProgressLine {
  readonly #enabled: boolean;
  readonly #timer: NodeJS.Timeout | undefined;
  #lastIn = 0;
  #lastAt = performance.now();

  constructor(pipeline: string, read: () => ProgressCounts, stream: NodeJS.WriteStream = process.stderr) {
    this.#enabled = Boolean(stream.isTTY) && process.env.CI !== 'true';
    if (!this.#enabled) return;
    this.#timer = setInterval(() => {
      const c = read();
      const now = performance.now();
      const rate = ((c.recordsIn - this.#lastIn) * 1000) / Math.max(1, now - this.#lastAt);
      this.#lastIn = c.recordsIn;
      this.#lastAt = now;
      stream.write(
        `\r\x1b[2K${pipeline}: ${fmt(rate)} rec/s · in ${fmt(c.recordsIn)} · out ${fmt(c.eventsOut)} · filtered ${fmt(c.recordsFiltered)} · rejected ${fmt(c.recordsRejected)}`,
      );
    }, 500);
    this.#timer.unref();
  }

  stop(): void {
    if (!this.#enabled) return;
    clearInterval(this.#timer);
    process.stderr.write('\r\x1b[2K');
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
