/**
 * `stockbridge worker <pipeline.yaml> --redis URL`: run a pipeline as one member of a worker pool (docs/scaling.md).
 * Without --redis (and STOCKBRIDGE_REDIS_URL) it is `stockbridge run`: one process, embedded state.
 */
import type { Command } from 'commander';
import { builtinRegistry } from '../../connectors/index.ts';
import { claim, exists, moveInto, scan, symlinkInside } from '../../connectors/file-drop/folder.ts';
import {
  archiveDirOf,
  checkContent,
  Completeness,
  errorDirOf,
  inspectFile,
  moveToErrorFolder,
  readDropFile,
} from '../../connectors/file-drop/read.ts';
import { loadPipeline } from '../../runtime/config/pipeline.ts';
import { ConfigError } from '../../runtime/contracts/spi.ts';
import { rootLogger, setLogLevel } from '../../runtime/observability/log.ts';
import { serveMetrics } from '../../runtime/observability/metrics.ts';
import type { DropToolkit } from '../../runtime/scaling/drop-toolkit.ts';
import { runPipelineFile } from './run.ts';

interface WorkerOptions {
  redis?: string;
  concurrency: number;
  stateDir?: string;
  lockTtl: number;
  jobLock: number;
  maxStalled: number;
  heartbeat: number;
  metricsPort?: number;
  json?: boolean;
  quiet?: boolean;
}

const int = (name: string, min: number) => (v: string) => {
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < min || String(n) !== v.trim()) throw new ConfigError(`--${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
};

/** The file-drop connector's pieces the pool reuses (the runtime imports no connector). */
export const fileDropToolkit: DropToolkit = {
  scan,
  claim,
  exists,
  symlinkInside,
  moveInto,
  newCompleteness: (minAgeMs, stableMs) => new Completeness(minAgeMs, stableMs),
  inspectFile,
  checkContent,
  archiveDirOf,
  errorDirOf,
  moveToErrorFolder,
  readDropFile: readDropFile as DropToolkit['readDropFile'],
};

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run a pipeline as one member of a worker pool sharing one Redis (file drops become BullMQ jobs; Kafka uses consumer groups).')
    .argument('<pipeline>', 'pipeline file (YAML); every member runs the same file')
    .option('--redis <url>', 'Redis of the pool (redis://host:port[/db]); default $STOCKBRIDGE_REDIS_URL. Without it: a single process, like `run`')
    .option('--concurrency <n>', 'file jobs this member holds at once (they share one engine: this pipelines I/O, it adds no CPU)', int('concurrency', 1), 2)
    .option('--state-dir <dir>', 'local state directory for components that keep local files; pool state lives in Redis')
    .option('--lock-ttl <ms>', 'expiry of the folder-watcher / singleton lock (handover delay when its holder dies)', int('lock-ttl', 500), 10_000)
    .option('--job-lock <ms>', 'BullMQ job lock: a dead member\'s jobs are taken over after about this long', int('job-lock', 1000), 30_000)
    .option('--max-stalled <n>', 'a file whose worker died this many times fails for good (poison file)', int('max-stalled', 1), 5)
    .option('--heartbeat <ms>', 'heartbeat and counter publishing interval', int('heartbeat', 100), 1000)
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port', int('metrics-port', 1))
    .option('--json', 'print a JSON summary of this member as the last line of stdout when it stops')
    .option('--quiet', 'log warnings and errors only')
    .addHelpText(
      'after',
      '\nSIGINT/SIGTERM: stop taking jobs, drain and commit in-flight batches, hand unfinished files back to the queue (another member resumes them after the last committed record). A second signal exits at once.\nSee `stockbridge status --redis URL` for the pool, docs/scaling.md for what scales and what does not.',
    )
    .action(async (file: string, opts: WorkerOptions) => {
      process.exitCode = await runWorker(file, opts);
    });
}

export async function runWorker(file: string, opts: WorkerOptions): Promise<number> {
  const redisUrl = opts.redis ?? process.env.STOCKBRIDGE_REDIS_URL;
  if (!redisUrl) {
    rootLogger().warn('no --redis given: running as a single process with the embedded state store');
    return runPipelineFile(file, { stateDir: opts.stateDir, metricsPort: opts.metricsPort, json: opts.json, quiet: opts.quiet });
  }
  try {
    const u = new URL(redisUrl);
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error('not redis');
  } catch {
    throw new ConfigError(`--redis must be a redis://host:port URL, got '${redisUrl}'`);
  }
  if (opts.quiet) setLogLevel('warn');
  const log = rootLogger();
  const cfg = loadPipeline(file, builtinRegistry());
  // bullmq is loaded only by the commands that need it
  const { PoolWorker, poolModeOf } = await import('../../runtime/scaling/worker.ts');
  const port = opts.metricsPort ?? cfg.metrics.port;
  if (port) (await serveMetrics(port)).unref();
  const worker = new PoolWorker(cfg, {
    redisUrl,
    concurrency: opts.concurrency,
    stateDir: opts.stateDir,
    lockTtlMs: opts.lockTtl,
    jobLockMs: opts.jobLock,
    maxStalledCount: opts.maxStalled,
    heartbeatMs: opts.heartbeat,
    log,
    drop: poolModeOf(cfg.source.type) === 'files' ? fileDropToolkit : undefined,
  });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now; unfinished jobs are recovered by the other workers');
      process.exit(130);
    }
    log.info({ signal: sig }, 'stopping: draining in-flight batches, handing unfinished jobs back');
    worker.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await worker.run();
    if (opts.json) process.stdout.write(`${JSON.stringify({ worker: worker.id, mode: worker.mode, exitCode: r.exitCode, ...(r.summary ?? {}), units: undefined })}\n`);
    return r.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
