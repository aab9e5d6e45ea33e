/** `stockbridge dlq postings`: registered by cli/commands/dlq.ts; the work (admin.ts, bullmq) loads only when it runs. */
import type { Command } from 'commander';
import type { PostingsOptions } from './admin.ts';

export function registerPostingsCommand(dlq: Command, stateOpt: readonly [string, string]): void {
  dlq
    .command('postings')
    .description('SAP posting outbox and queue: entries not POSTED and failed queue jobs; --retry replays failed jobs, --repost posts FAILED entries again.')
    .argument('<pipeline>', 'pipeline file')
    .option(...stateOpt)
    .option('--sink <name>', 'only this sap-posting sink')
    .option('--state <states>', 'states to list, comma-separated', 'PENDING,UNCERTAIN,FAILED')
    .option('--limit <n>', 'at most n entries / jobs', (v) => Number.parseInt(v, 10), 100)
    .option('--retry', 'move failed posting-queue jobs back to the queue (all, or those of --id)')
    .option('--repost', 're-post the FAILED outbox entries given with --id (after fixing the cause in SAP)')
    .option('--id <eventIds...>', 'event ids')
    .option('--json', 'JSON lines')
    .action(async (file: string, opts: PostingsOptions) => {
      const { runPostings } = await import('./admin.ts');
      await runPostings(file, opts);
    });
}
