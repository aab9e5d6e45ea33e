/**
 * `stockbridge map <mapping.yaml> <input-file>` and `stockbridge mapping test <mapping.yaml...>`.
 * The logic lives in runtime/mapping/run-file.ts and runtime/mapping/tester.ts; this only wires commander.
 */
import type { Command } from 'commander';
import { mapFile } from '../../runtime/mapping/run-file.ts';
import { testMappingFile } from '../../runtime/mapping/tester.ts';

export function registerMapCommands(program: Command): void {
  program
    .command('map')
    .description(
      'Map one input file: canonical events as JSON lines on stdout, rejects as file:line: reason on stderr. Exit 0 when every record mapped or was filtered, 1 when some were rejected, 2 for an invalid mapping.',
    )
    .argument('<mapping>', 'mapping file (YAML)')
    .argument('<input>', "input file in the mapping's input format")
    .option('--received-at <instant>', 'source.receivedAt of the events (ISO-8601 UTC; default: now)')
    .option('--connector <name>', 'source.connector of the events', 'file')
    .option('--no-event-ids', 'skip event-id hashing (ids are the unhashed names; debugging only)')
    .action(
      async (mapping: string, input: string, o: { receivedAt?: string; connector: string; eventIds: boolean }) => {
        const r = await mapFile(mapping, input, {
          receivedAt: o.receivedAt,
          connector: o.connector,
          hashEventIds: o.eventIds,
        });
        process.exitCode = r.code;
      },
    );

  const mapping = program.command('mapping').description('Mapping tools');
  mapping
    .command('test')
    .description(
      'Run the tests declared beside each mapping (tests:); prints a difference per failing test. Exit 0 all passed, 1 failures, 2 invalid mapping.',
    )
    .argument('<mappings...>', 'mapping files')
    .action(async (files: string[]) => {
      let code = 0;
      for (const f of files) code = Math.max(code, await testMappingFile(f));
      process.exitCode = code;
    });
}
