/**
 * The `stockbridge` command line. Exit codes (docs/cli.md):
 *   0  success (for `run --once`: the input that existed was drained and committed)
 *   1  runtime failure (a sink stayed down past its retry limit, a source failed; `map`: some records rejected)
 *   2  invalid input or configuration (`file:line:col: message`, no stack trace)
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../runtime/contracts/spi.ts';
import { registerConnectorsCommand } from './commands/connectors.ts';
import { registerDlqCommands } from './commands/dlq.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerSchemaCommand } from './commands/schema.ts';
import { registerStatusCommand } from './commands/status.ts';
import { registerValidateCommand } from './commands/validate.ts';
import { registerWorkerCommand } from './commands/worker.ts';

export const EXIT = { OK: 0, FAILURE: 1, INVALID: 2 } as const;

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** Prints an error the way operators expect (no stack for config errors) and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.toString()}\n`);
    return EXIT.INVALID;
  }
  const e = err as Error;
  process.stderr.write(`stockbridge: error: ${e?.message ?? String(err)}\n`);
  if (process.env.STOCKBRIDGE_DEBUG) process.stderr.write(`${e?.stack}\n`);
  return EXIT.FAILURE;
}

export function buildProgram(): Command {
  const program = new Command('stockbridge')
    .description('Connector runtime for retail inventory: source records → canonical inventory events → sinks.')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 runtime failure (map: some records rejected), 2 invalid input or configuration.\nDocs: README.md and docs/.',
  );
  registerRunCommand(program);
  registerValidateCommand(program);
  registerConnectorsCommand(program);
  registerDlqCommands(program);
  registerSchemaCommand(program);
  registerWorkerCommand(program);
  registerStatusCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    const { registerMapCommands } = await import('./commands/map.ts');
    registerMapCommands(program);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors (unknown option, missing argument) are invalid input.
      process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.INVALID;
      return;
    }
    process.exitCode = reportError(err);
  }
}
