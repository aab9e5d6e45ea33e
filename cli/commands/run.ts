import type { Command } from 'commander';
import { builtinRegistry } from '../../connectors/index.ts';
import { loadPipeline } from '../../runtime/config/pipeline.ts';
import type { Engine, RunSummary } from '../../runtime/engine/engine.ts';
import { type PreparedPipeline, preparePipeline } from '../../runtime/engine/pipeline-runner.ts';
import { rootLogger, setLogLevel } from '../../runtime/observability/log.ts';
import { serveMetrics } from '../../runtime/observability/metrics.ts';
import { ProgressLine } from '../../runtime/observability/progress.ts';

interface RunOptions {
  once?: boolean;
  stateDir?: string;
  metricsPort?: number;
  json?: boolean;
  quiet?: boolean;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run a pipeline: read the source, map, deliver to every sink, commit.')
    .argument('<pipeline>', 'pipeline file (YAML)')
    .option('--once', 'drain the input that exists now, then exit 0 (cron, tests)')
    .option('--state-dir <dir>', 'state directory (checkpoints, dead letters); default .stockbridge')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port', (v) => Number.parseInt(v, 10))
    .option('--json', 'print a JSON run summary as the last line of stdout')
    .option('--quiet', 'log warnings and errors only')
    .addHelpText(
      'after',
      '\nThe summary counts records: recordsIn = recordsMapped + recordsFiltered + recordsRejected.\nSIGINT/SIGTERM drain in-flight batches and commit; a second signal exits at once (nothing is lost: uncommitted input is read again).',
    )
    .action(async (file: string, opts: RunOptions) => {
      process.exitCode = await runPipelineFile(file, opts);
    });
}

export async function runPipelineFile(file: string, opts: RunOptions): Promise<number> {
  if (opts.quiet) setLogLevel('warn');
  const log = rootLogger();
  const cfg = loadPipeline(file, builtinRegistry());
  const port = opts.metricsPort ?? cfg.metrics.port;
  if (port) {
    const server = await serveMetrics(port);
    log.info({ port }, 'serving Prometheus metrics on /metrics');
    server.unref();
  }
  // Signals are handled from the start: a stop requested while the pipeline is still starting is honoured.
  let engine: Engine | undefined;
  let stopRequested = false;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now; uncommitted input will be read again on restart');
      process.exit(130);
    }
    log.info({ signal: sig }, 'stopping: draining in-flight batches and committing');
    stopRequested = true;
    engine?.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let prepared: PreparedPipeline;
  try {
    prepared = await preparePipeline(cfg, { once: Boolean(opts.once), stateDir: opts.stateDir, log });
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw err;
  }
  engine = prepared.engine;
  if (stopRequested) engine.stop();
  const running = engine;
  const progress = new ProgressLine(cfg.name, () => running.counts());
  log.info({ once: Boolean(opts.once) }, 'pipeline started');
  let summary: RunSummary;
  try {
    summary = await running.run();
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await prepared.close();
  }
  const deadLetters = summary.recordsRejected;
  log.info({ ...summary, units: undefined }, summary.status === 'failed' ? 'pipeline failed' : 'pipeline finished');
  if (deadLetters > 0) log.warn({ rejected: deadLetters }, `records were rejected: see 'stockbridge dlq list ${file}'`);
  if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  return summary.status === 'failed' ? 1 : 0;
}
