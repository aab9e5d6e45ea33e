import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { builtinRegistry } from '../../connectors/index.ts';
import { pipelineJsonSchema } from '../../runtime/config/pipeline-schema.ts';

const contract = (f: string) => JSON.parse(readFileSync(new URL(`../../runtime/contracts/${f}`, import.meta.url), 'utf8'));

export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description('Print a JSON Schema: pipeline (for editors), mapping, event (JSON Schema) or event-avro (Avro).')
    .argument('<what>', 'pipeline | mapping | event | event-avro')
    .action((what: string) => {
      let out: unknown;
      if (what === 'pipeline') out = pipelineJsonSchema(builtinRegistry());
      else if (what === 'event') out = contract('inventory-event.schema.json');
      else if (what === 'event-avro') out = contract('inventory-event.avsc.json');
      else if (what === 'mapping')
        out = JSON.parse(readFileSync(new URL('../../runtime/mapping/mapping.schema.json', import.meta.url), 'utf8'));
      else throw new Error(`unknown schema '${what}': use pipeline, mapping, event or event-avro`);
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });
}
