/**
 * Engine overhead: generator → identity mapping → discard sink, through the real pipeline runner.
 *   ./node_modules/.bin/node bench/engine.bench.ts [events=5000000] [memoryEvents=20000000]
 * Targets (issue #2): ≥ 1,000,000 events/s on one core; RSS < 250 MB while 20 million events flow through.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinRegistry } from '../connectors/index.ts';
import { loadPipeline } from '../runtime/config/pipeline.ts';
import { preparePipeline } from '../runtime/engine/pipeline-runner.ts';
import { rootLogger, setLogLevel } from '../runtime/observability/log.ts';
import { machine, report, rssSampler } from './lib.ts';

setLogLevel('warn');
const events = Number(process.argv[2] ?? 5_000_000);
const memoryEvents = Number(process.argv[3] ?? 20_000_000);

async function run(count: number, batchSize: number) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-engine-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `pipeline: bench-engine\nsource:\n  type: generator\n  count: ${count}\nmapping: identity\nsinks:\n  - type: discard\ndelivery:\n  batchSize: ${batchSize}\n`,
  );
  const cfg = loadPipeline(file, builtinRegistry());
  const p = await preparePipeline(cfg, { once: true, stateDir: join(dir, 'state'), log: rootLogger() });
  const rss = rssSampler();
  const t0 = performance.now();
  const s = await p.engine.run();
  const secs = (performance.now() - t0) / 1000;
  const peak = rss.stop();
  await p.close();
  if (s.eventsOut !== count) throw new Error(`expected ${count} events out, got ${s.eventsOut}`);
  return { rate: Math.round(count / secs), secs, peak };
}

// warm-up (JIT)
await run(200_000, 1000);
for (const batchSize of [1000, 5000]) {
  const r = await run(events, batchSize);
  report({
    bench: 'engine',
    case: `generator → identity → discard, ${events.toLocaleString('en-US')} events, batch ${batchSize}`,
    metric: 'throughput',
    value: r.rate,
    unit: 'events/s',
    target: '≥ 1,000,000',
    ok: r.rate >= 1_000_000,
    peakRssMb: r.peak,
    machine: machine(),
  });
}
const m = await run(memoryEvents, 1000);
report({
  bench: 'engine',
  case: `memory with ${memoryEvents.toLocaleString('en-US')} events flowing through`,
  metric: 'peak RSS',
  value: m.peak,
  unit: 'MB',
  target: '< 250',
  ok: m.peak < 250,
  throughput: m.rate,
  machine: machine(),
});
