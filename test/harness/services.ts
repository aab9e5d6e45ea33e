// Test-side API of the real-service harness. The integration project's globalSetup (test/harness/global-setup.ts)
// starts a real Kafka broker and redis-server (or reuses the ones named by KAFKA_BROKERS / REDIS_URL) and exports
// their addresses to the test workers through environment variables, which this module reads.
//
//   kafkaBrokers()            ['127.0.0.1:PORT']                       from KAFKA_BROKERS (comma-separated)
//   redisUrl()                'redis://127.0.0.1:PORT'                 from REDIS_URL
//   newKafka(clientId?)       a kafkajs Kafka client for the test broker (quiet logger)
//   createTopic(name, partitions = 1, opts?)   explicit topic creation (auto-create is off); waits for leaders
//   deleteTopic(name)
//   uniqueName(prefix)        collision-free topic / group / key names
//   stopKafka({ signal })     SIGTERM (graceful, default) or SIGKILL (crash); data and ports are kept
//   startKafka()              start it again on the same ports and data; resolves once it serves metadata
//   restartKafka()            stop (SIGTERM) + start
//   stopRedis() / startRedis()  same idea for redis-server
//   kafkaLogFile()            path of the broker's log (attach to failure messages)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';

export const HARNESS_DIR = fileURLToPath(new URL('.', import.meta.url));
export const RUN_DIR = process.env.STOCKBRIDGE_RUN_DIR ?? join(HARNESS_DIR, '.run');

export function kafkaBrokers(): string[] {
  const raw = process.env.KAFKA_BROKERS;
  if (!raw) {
    throw new Error(
      'KAFKA_BROKERS is not set: run this test in the `integration` vitest project (its globalSetup starts Kafka), ' +
        'or start the services yourself: npm run services:start && eval "$(bash test/harness/services.sh env)"',
    );
  }
  return raw
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
}

export function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) {
    throw new Error(
      'REDIS_URL is not set: run this test in the `integration` vitest project (its globalSetup starts redis-server), ' +
        'or start the services yourself: npm run services:start && eval "$(bash test/harness/services.sh env)"',
    );
  }
  return url;
}

let counter = 0;
/** A name unique across processes and runs, valid as a Kafka topic / group id / Redis key: `<prefix>-<pid>-<time>-<n>-<rand>`. */
export function uniqueName(prefix: string): string {
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 150) || 'x';
  counter += 1;
  return `${safe}-${process.pid}-${Date.now().toString(36)}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** A kafkajs client for the harness broker. kafkajs logging is off unless KAFKAJS_LOG_LEVEL (e.g. INFO) is set. */
export function newKafka(clientId = 'stockbridge-test', overrides: Partial<KafkaConfig> = {}): Kafka {
  const level = process.env.KAFKAJS_LOG_LEVEL?.toUpperCase() as keyof typeof logLevel | undefined;
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(),
    logLevel: level && level in logLevel ? logLevel[level] : logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    ...overrides,
  });
}

export interface CreateTopicOptions {
  /** Topic-level configs, e.g. { 'cleanup.policy': 'compact' }. */
  configs?: Record<string, string>;
  /** Do not fail when the topic already exists. */
  ifNotExists?: boolean;
}

/** Creates a topic explicitly (the harness broker runs with auto.create.topics.enable=false) and waits for leaders. */
export async function createTopic(name: string, partitions = 1, opts: CreateTopicOptions = {}): Promise<string> {
  const admin = newKafka('stockbridge-test-admin').admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      waitForLeaders: true,
      timeout: 30_000,
      topics: [
        {
          topic: name,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: Object.entries(opts.configs ?? {}).map(([n, value]) => ({ name: n, value })),
        },
      ],
    });
    if (!created && !opts.ifNotExists) throw new Error(`topic ${name} already exists`);
    return name;
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopic(name: string): Promise<void> {
  const admin = newKafka('stockbridge-test-admin').admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [name], timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fault injection: drive kafka.sh / redis.sh for the instance the global setup (or services.sh) started.

function runScript(script: 'kafka.sh' | 'redis.sh', args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [join(HARNESS_DIR, script), ...args],
      { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${script} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

function findInstance(kind: 'kafka' | 'redis'): string {
  const fromEnv = kind === 'kafka' ? process.env.STOCKBRIDGE_KAFKA_INSTANCE : process.env.STOCKBRIDGE_REDIS_INSTANCE;
  if (fromEnv) return fromEnv;
  // Services started by hand (services.sh) and exported without the instance name: match the address.
  const address = kind === 'kafka' ? kafkaBrokers()[0] : redisUrl();
  const file = kind === 'kafka' ? 'bootstrap' : 'url';
  if (existsSync(RUN_DIR)) {
    for (const dir of readdirSync(RUN_DIR)) {
      const p = join(RUN_DIR, dir, file);
      if (existsSync(p) && readFileSync(p, 'utf8').trim() === address) return dir;
    }
  }
  throw new Error(
    `the ${kind} at ${address} was not started by this harness (no instance under ${RUN_DIR}); ` +
      'fault-injection helpers need a harness-managed service',
  );
}

export function kafkaInstanceDir(): string {
  return join(RUN_DIR, findInstance('kafka'));
}

export function kafkaLogFile(): string {
  return join(kafkaInstanceDir(), 'logs', 'server.log');
}

export interface StopKafkaOptions {
  /** SIGTERM: controlled shutdown (default). SIGKILL: crash, no shutdown at all. */
  signal?: 'SIGTERM' | 'SIGKILL';
  /** Seconds to wait after SIGTERM before SIGKILL (default 30). */
  graceSeconds?: number;
}

/** Stops the broker; resolves when the process is gone and its ports are free. Data, ports and logs are kept. */
export async function stopKafka(opts: StopKafkaOptions = {}): Promise<void> {
  const cmd = opts.signal === 'SIGKILL' ? 'kill' : 'stop';
  const env = opts.graceSeconds === undefined ? {} : { KAFKA_STOP_GRACE: String(opts.graceSeconds) };
  await runScript('kafka.sh', [cmd, findInstance('kafka')], env);
}

/** Starts the (stopped) broker again on the same ports and data; resolves once it serves metadata. */
export async function startKafka(): Promise<void> {
  await runScript('kafka.sh', ['start', findInstance('kafka')]);
}

export async function restartKafka(): Promise<void> {
  await runScript('kafka.sh', ['restart', findInstance('kafka')]);
}

export async function isKafkaRunning(): Promise<boolean> {
  const instance = findInstance('kafka');
  try {
    await runScript('kafka.sh', ['status', instance]);
    return true;
  } catch {
    return false;
  }
}

export async function stopRedis(): Promise<void> {
  await runScript('redis.sh', ['stop', findInstance('redis')]);
}

export async function startRedis(): Promise<void> {
  await runScript('redis.sh', ['start', findInstance('redis')]);
}
