import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { builtinRegistry } from '../../connectors/index.ts';
import { loadPipeline } from '../../runtime/config/pipeline.ts';
import { ConfigError } from '../../runtime/contracts/spi.ts';
import { loadPipelineMapping } from '../../runtime/engine/pipeline-runner.ts';
import { reportError } from '../main.ts';

/** Pipeline or mapping? Decided by the top-level key (`pipeline:` or `mapping:`). */
export function fileKind(file: string): 'pipeline' | 'mapping' | undefined {
  try {
    const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown> | null;
    if (doc && typeof doc === 'object') {
      if ('pipeline' in doc) return 'pipeline';
      if ('mapping' in doc) return 'mapping';
    }
  } catch {
    // fall through: the real loader reports the syntax error with its position
  }
  return undefined;
}

export async function validateFile(file: string): Promise<void> {
  const kind = fileKind(file);
  if (kind === 'mapping') {
    const { loadMapping } = await import('../../runtime/mapping/compile.ts');
    await loadMapping(file, {});
    return;
  }
  const cfg = loadPipeline(file, builtinRegistry());
  await loadPipelineMapping(cfg);
}

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('Check pipeline and mapping files (schema, connector options, env references, mappings) without running anything.')
    .argument('<files...>', 'pipeline or mapping files')
    .action(async (files: string[]) => {
      let bad = 0;
      for (const f of files) {
        try {
          await validateFile(f);
          process.stdout.write(`${f}: ok\n`);
        } catch (err) {
          bad++;
          const code = reportError(err);
          if (!(err instanceof ConfigError) && code !== 2) process.exitCode = 1;
        }
      }
      if (bad) process.exitCode = 2;
    });
}
