/** Small helpers shared by the benchmarks: RSS sampling and one JSON line per result. */
import { cpus, totalmem } from 'node:os';

export interface Result {
  bench: string;
  case: string;
  metric: string;
  value: number;
  unit: string;
  target?: string;
  ok?: boolean;
  [k: string]: unknown;
}

export function report(r: Result): void {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/** Samples RSS every `ms` until stopped; returns the peak in MB. */
export function rssSampler(ms = 50): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, ms);
  t.unref();
  return {
    stop() {
      clearInterval(t);
      peak = Math.max(peak, process.memoryUsage.rss());
      return Math.round(peak / 1024 / 1024);
    },
  };
}

export function machine(): string {
  return `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`;
}
