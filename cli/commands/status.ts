/** `stockbridge status --redis URL [--json]`: workers, queues, throughput, lag and failures of the worker pools on a Redis. */
import type { Command } from 'commander';
import { ConfigError } from '../../runtime/contracts/spi.ts';

interface StatusOptions {
  redis?: string;
  json?: boolean;
  failures: number;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('Show the worker pools on a Redis: workers, queues, throughput, lag, failures.')
    .option('--redis <url>', 'Redis of the pool; default $STOCKBRIDGE_REDIS_URL')
    .option('--json', 'one JSON document')
    .option('--failures <n>', 'recent failed jobs to show per queue', (v) => Number.parseInt(v, 10), 10)
    .action(async (opts: StatusOptions) => {
      const url = opts.redis ?? process.env.STOCKBRIDGE_REDIS_URL;
      if (!url) throw new ConfigError('status needs --redis URL (or STOCKBRIDGE_REDIS_URL)');
      const { collectStatus, formatStatus } = await import('../../runtime/scaling/status.ts');
      // Fail fast when Redis is unreachable instead of waiting for it like a worker does.
      // Loaded here, not at start-up: every other command would pay for the Redis client otherwise.
      const { connectRedis } = await import('../../runtime/state/redis-store.ts');
      const redis = connectRedis(url, { maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 2 ? null : 200), connectTimeout: 3000 });
      redis.on('error', () => undefined);
      try {
        const s = await collectStatus(redis, { failures: opts.failures });
        process.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
      } catch (err) {
        throw new Error(`cannot read the pool status from ${url}: ${(err as Error).message}`);
      } finally {
        redis.disconnect();
      }
    });
}
