// vitest globalSetup of the `integration` project: real Kafka (KRaft) + real redis-server for the test run.
//
// - KAFKA_BROKERS and REDIS_URL already set (e.g. `npm run services:start` + `eval "$(bash test/harness/services.sh env)"`,
//   or a CI that provides its own): reuse them, start nothing, stop nothing.
// - Otherwise: start private instances `vitest-<pid>-kafka` / `vitest-<pid>-redis` (test/harness/.run/<name>/),
//   export KAFKA_BROKERS / REDIS_URL / STOCKBRIDGE_KAFKA_INSTANCE / STOCKBRIDGE_REDIS_INSTANCE to the workers, and stop
//   them in teardown. Only the one not already set is started when just one of the two variables is set.
//
// Propagation: vitest 5 starts test workers (forks, threads and vmThreads pools alike) after globalSetup has run and
// they inherit process.env, so plain env vars reach the tests (verified with vitest 5.1.1). The same values are also
// offered through project.provide() as inject('kafkaBrokers') / inject('redisUrl').
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    redisUrl: string;
  }
}

const HARNESS_DIR = fileURLToPath(new URL('.', import.meta.url));
const RUN_DIR = process.env.STOCKBRIDGE_RUN_DIR ?? join(HARNESS_DIR, '.run');
/** How many finished vitest-* instance directories (their logs) to keep for post-mortems. */
const KEEP_OLD_INSTANCES = 6;

function log(msg: string): void {
  process.stderr.write(`[harness] ${msg}\n`);
}

function run(script: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [join(HARNESS_DIR, script), ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 },
      (err, stdout, stderr) => {
        if (err) {
          const e = new Error(`${script} ${args.join(' ')} failed: ${err.message.split('\n')[0]}\n${stderr}`);
          reject(e);
        } else resolve({ stdout, stderr });
      },
    );
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return true;
  }
}

/** Instances left behind by a vitest that was killed before its teardown: stop them; prune old log dirs. */
async function cleanUpStale(): Promise<void> {
  if (!existsSync(RUN_DIR)) return;
  const finished: { dir: string; mtime: number }[] = [];
  for (const dir of readdirSync(RUN_DIR)) {
    const m = /^vitest-(\d+)-(kafka|redis)$/.exec(dir);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid) continue;
    if (pidAlive(owner)) continue; // another vitest run (maybe another engineer's) still owns it
    const pidFile = join(RUN_DIR, dir, `${m[2]}.pid`);
    if (existsSync(pidFile)) {
      log(`stopping stale ${m[2]} instance ${dir} (its vitest process ${owner} is gone)`);
      await run(`${m[2]}.sh`, ['stop', dir]).catch((e) => log(String(e)));
      rmSync(join(RUN_DIR, dir, 'data'), { recursive: true, force: true });
    }
    finished.push({ dir, mtime: statSync(join(RUN_DIR, dir)).mtimeMs });
  }
  finished.sort((a, b) => b.mtime - a.mtime);
  for (const { dir } of finished.slice(KEEP_OLD_INSTANCES)) {
    rmSync(join(RUN_DIR, dir), { recursive: true, force: true });
  }
}

function readRun(name: string, file: string): string {
  return readFileSync(join(RUN_DIR, name, file), 'utf8').trim();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: { kind: 'kafka' | 'redis'; name: string }[] = [];
  const needKafka = !process.env.KAFKA_BROKERS;
  const needRedis = !process.env.REDIS_URL;
  if (!needKafka) log(`reusing Kafka at KAFKA_BROKERS=${process.env.KAFKA_BROKERS}`);
  if (!needRedis) log(`reusing redis-server at REDIS_URL=${process.env.REDIS_URL}`);

  if (needKafka || needRedis) {
    await cleanUpStale();
    const kafkaName = `vitest-${process.pid}-kafka`;
    const redisName = `vitest-${process.pid}-redis`;
    const t0 = Date.now();
    const jobs: Promise<unknown>[] = [];
    if (needRedis) {
      started.push({ kind: 'redis', name: redisName });
      jobs.push(run('redis.sh', ['start', redisName]));
    }
    if (needKafka) {
      started.push({ kind: 'kafka', name: kafkaName });
      jobs.push(run('kafka.sh', ['start', kafkaName]));
    }
    // Safety net: if vitest exits without running the teardown, kill the services synchronously on exit. (A vitest
    // killed with SIGKILL runs nothing; the next run's cleanUpStale stops what it left behind.)
    process.once('exit', () => {
      for (const s of started) {
        try {
          const pid = Number(readRun(s.name, `${s.kind}.pid`));
          if (pid > 0 && pidAlive(pid)) process.kill(pid, 'SIGKILL');
        } catch {
          // already stopped
        }
      }
    });
    const results = await Promise.allSettled(jobs);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0) {
      await stopAll(started);
      throw new Error(
        `Integration services could not start (logs under ${RUN_DIR}):\n${failures.map((f) => String(f.reason?.message ?? f.reason)).join('\n')}`,
      );
    }
    if (needKafka) {
      process.env.KAFKA_BROKERS = readRun(kafkaName, 'bootstrap');
      process.env.STOCKBRIDGE_KAFKA_INSTANCE = kafkaName;
    }
    if (needRedis) {
      process.env.REDIS_URL = readRun(redisName, 'url');
      process.env.STOCKBRIDGE_REDIS_INSTANCE = redisName;
    }
    log(
      `services up in ${((Date.now() - t0) / 1000).toFixed(1)}s: KAFKA_BROKERS=${process.env.KAFKA_BROKERS} ` +
        `REDIS_URL=${process.env.REDIS_URL} (logs: ${RUN_DIR}/vitest-${process.pid}-*/logs)`,
    );
  }

  project.provide('kafkaBrokers', process.env.KAFKA_BROKERS!);
  project.provide('redisUrl', process.env.REDIS_URL!);

  return async () => {
    await stopAll(started);
  };
}

async function stopAll(started: { kind: 'kafka' | 'redis'; name: string }[]): Promise<void> {
  await Promise.all(
    started.map(async ({ kind, name }) => {
      const dir = join(RUN_DIR, name);
      const wasRunning = await run(`${kind}.sh`, ['status', name]).then(
        () => true,
        () => false,
      );
      if (!wasRunning && kind === 'kafka' && existsSync(join(dir, 'bootstrap'))) {
        log(`Kafka instance ${name} was not running at teardown; its log is kept: ${join(dir, 'logs', 'server.log')}`);
      }
      await run(`${kind}.sh`, ['stop', name]).catch((e) => log(String(e)));
      // Data goes, logs stay (the newest few instance dirs are kept; see KEEP_OLD_INSTANCES).
      rmSync(join(dir, 'data'), { recursive: true, force: true });
    }),
  );
}
