import type { Command } from 'commander';
import { builtinRegistry } from '../../connectors/index.ts';
import { registerPostingsCommand } from '../../connectors/sap-posting/cli.ts';
import { loadPipeline } from '../../runtime/config/pipeline.ts';
import type { DeadLetter, SourceContext } from '../../runtime/contracts/spi.ts';
import { preparePipeline, stateDirOf } from '../../runtime/engine/pipeline-runner.ts';
import { rootLogger } from '../../runtime/observability/log.ts';
import { DeadLetterSource } from '../../runtime/state/dlq-source.ts';
import { openSqliteStore } from '../../runtime/state/sqlite-store.ts';

interface DlqOptions {
  stateDir?: string;
  /** A worker pool's Redis: its dead letters live there (docs/scaling.md). */
  redis?: string;
  json?: boolean;
  all?: boolean;
  limit?: number;
  after?: number;
}

async function openStore(file: string, opts: DlqOptions) {
  const cfg = loadPipeline(file, builtinRegistry());
  if (opts.redis) {
    // Loaded only for pools: the Redis client is not part of every command's start-up.
    const { openRedisStore } = await import('../../runtime/state/redis-store.ts');
    return { cfg, store: openRedisStore(opts.redis, cfg.name) };
  }
  return { cfg, store: openSqliteStore(stateDirOf(cfg, opts.stateDir), cfg.name) };
}

function payloadText(d: DeadLetter): string {
  if (d.payload === undefined) return '(none)';
  if (typeof d.payload === 'string') return d.payload;
  const b = Buffer.from(d.payload);
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    const row = b.subarray(i, i + 16);
    lines.push(`${i.toString(16).padStart(8, '0')}  ${[...row].map((x) => x.toString(16).padStart(2, '0')).join(' ').padEnd(47)}`);
  }
  return lines.join('\n');
}

function where(d: DeadLetter): string {
  const e = d.error;
  if (!e) return d.ref;
  const parts = [d.ref];
  if (e.column) parts.push(`col ${e.column}`);
  if (e.offset !== undefined) parts.push(`offset ${e.offset}`);
  if (e.field) parts.push(`field ${e.field}`);
  return parts.join(' ');
}

export function registerDlqCommands(program: Command): void {
  const dlq = program.command('dlq').description('Inspect and replay the dead-letter store of a pipeline.');
  const stateOpt = ['--state-dir <dir>', 'state directory; default from the pipeline file or .stockbridge'] as const;
  const redisOpt = ['--redis <url>', 'a worker pool\'s Redis (stockbridge worker --redis): its shared dead letters'] as const;

  dlq
    .command('list')
    .description('List dead letters (open ones; --all includes replayed).')
    .argument('<pipeline>', 'pipeline file')
    .option(...stateOpt)
    .option(...redisOpt)
    .option('--all', 'include entries already replayed')
    .option('--limit <n>', 'at most n entries', (v) => Number.parseInt(v, 10), 100)
    .option('--after <id>', 'entries after this id', (v) => Number.parseInt(v, 10), 0)
    .option('--json', 'JSON lines')
    .action(async (file: string, opts: DlqOptions) => {
      const { store } = await openStore(file, opts);
      try {
        const rows = await store.listDeadLetters({ limit: opts.limit, afterId: opts.after, includeReplayed: opts.all });
        if (opts.json) {
          for (const d of rows) process.stdout.write(`${JSON.stringify({ ...d, payload: undefined })}\n`);
          return;
        }
        const open = await store.countDeadLetters();
        process.stdout.write(`${open} open dead letter(s)\n`);
        for (const d of rows)
          process.stdout.write(`#${d.id}  ${d.createdAt}  ${d.stage.padEnd(8)} ${where(d)}: ${d.reason}${d.replayedAt ? '  [replayed]' : ''}\n`);
      } finally {
        await store.close();
      }
    });

  dlq
    .command('show')
    .description('Show one dead letter with its original payload.')
    .argument('<pipeline>', 'pipeline file')
    .argument('<id>', 'entry id', (v) => Number.parseInt(v, 10))
    .option(...stateOpt)
    .option(...redisOpt)
    .option('--json', 'JSON output')
    .action(async (file: string, id: number, opts: DlqOptions) => {
      const { store } = await openStore(file, opts);
      try {
        const d = await store.getDeadLetter(id);
        if (!d) throw new Error(`no dead letter #${id}`);
        if (opts.json) {
          const payload = typeof d.payload === 'string' || d.payload === undefined ? d.payload : Buffer.from(d.payload).toString('base64');
          process.stdout.write(`${JSON.stringify({ ...d, payload, payloadEncoding: typeof d.payload === 'string' ? 'text' : 'base64' })}\n`);
          return;
        }
        process.stdout.write(
          `#${d.id} ${d.stage} ${where(d)}\nreason:   ${d.reason}\ncreated:  ${d.createdAt}${d.replayedAt ? `\nreplayed: ${d.replayedAt}` : ''}\n` +
            `${d.error ? `error:    ${JSON.stringify(d.error)}\n` : ''}${d.meta ? `meta:     ${JSON.stringify(d.meta)}\n` : ''}payload:\n${payloadText(d)}\n`,
        );
      } finally {
        await store.close();
      }
    });

  dlq
    .command('replay')
    .description('Send open dead letters through the mapping and sinks again (e.g. after fixing a lookup table).')
    .argument('<pipeline>', 'pipeline file')
    .option(...stateOpt)
    .option(...redisOpt)
    .option('--id <ids...>', 'replay only these entries', (v: string, prev: number[] = []) => [...prev, Number.parseInt(v, 10)])
    .option('--json', 'print a JSON run summary as the last line of stdout')
    .action(async (file: string, opts: DlqOptions & { id?: number[] }) => {
      const log = rootLogger();
      const cfg = loadPipeline(file, builtinRegistry());
      const sourceOverride = (ctx: SourceContext) => new DeadLetterSource(ctx, opts.id);
      const prepared = opts.redis
        ? await (await import('../../runtime/scaling/assemble.ts')).assemblePipeline(cfg, {
            once: true,
            stateDir: opts.stateDir,
            log,
            state: (await import('../../runtime/state/redis-store.ts')).openRedisStore(opts.redis, cfg.name),
            closeState: true,
            sourceOverride,
          })
        : await preparePipeline(cfg, { once: true, stateDir: opts.stateDir, log, sourceOverride });
      const summary = await prepared.engine.run().finally(() => prepared.close());
      log.info({ ...summary, units: undefined }, 'replay finished');
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      process.exitCode = summary.status === 'failed' ? 1 : summary.recordsRejected > 0 ? 1 : 0;
    });

  registerPostingsCommand(dlq, stateOpt);
}
