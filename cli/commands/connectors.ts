import type { Command } from 'commander';
import { builtinRegistry } from '../../connectors/index.ts';
import type { ConnectorSpec } from '../../runtime/contracts/spi.ts';

interface OptionRow {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description: string;
}

export function optionRows(spec: ConnectorSpec): OptionRow[] {
  const props = (spec.options.properties ?? {}) as Record<string, Record<string, unknown>>;
  const required = new Set((spec.options.required as string[]) ?? []);
  const typeOf = (p: Record<string, unknown>): string => {
    if (p.enum) return (p.enum as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
    if (p.anyOf || p.oneOf) return ((p.anyOf ?? p.oneOf) as Array<Record<string, unknown>>).map(typeOf).join(' | ');
    if (p.type === 'array' && p.items) return `${typeOf(p.items as Record<string, unknown>)}[]`;
    return String(p.type ?? p.format ?? 'any');
  };
  return Object.entries(props).map(([name, p]) => ({
    name,
    type: typeOf(p),
    required: required.has(name),
    default: p.default,
    description: String(p.description ?? ''),
  }));
}

/** The connector reference in Markdown (docs/connectors.md is this output; a test keeps it current). */
export function connectorsMarkdown(specs: ConnectorSpec[]): string {
  const out: string[] = [
    '# Connector reference',
    '',
    'Generated from the connectors\' own option schemas by `stockbridge connectors --markdown`; do not edit by hand.',
    'Each connector\'s folder (`connectors/<name>/README.md`) explains how it behaves.',
    '',
    '| kind | type | summary | delivery |',
    '|---|---|---|---|',
  ];
  const sorted = [...specs].sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  for (const s of sorted) out.push(`| ${s.kind} | [\`${s.name}\`](#${s.kind}-${s.name}) | ${s.summary} | ${s.delivery} |`);
  for (const s of sorted) {
    out.push('', `## ${s.kind} \`${s.name}\``, '', s.summary, '', `Delivery: ${s.delivery}.`, '');
    const rows = optionRows(s);
    if (rows.length) {
      out.push('| option | type | default | description |', '|---|---|---|---|');
      for (const o of rows)
        out.push(
          `| \`${o.name}\`${o.required ? ' (required)' : ''} | ${o.type.replaceAll('|', '\\|')} | ${o.default === undefined ? '' : `\`${JSON.stringify(o.default)}\``} | ${o.description.replaceAll('|', '\\|')} |`,
        );
    } else out.push('No options.');
    if (s.example) out.push('', '```yaml', s.example, '```');
  }
  return `${out.join('\n')}\n`;
}

export function registerConnectorsCommand(program: Command): void {
  program
    .command('connectors')
    .description('List the sources, processors and sinks with their options.')
    .argument('[name]', 'show one connector in detail')
    .option('--json', 'machine-readable output (specs with their JSON Schemas)')
    .option('--markdown', 'the reference as Markdown (docs/connectors.md)')
    .action((name: string | undefined, opts: { json?: boolean; markdown?: boolean }) => {
      const all = builtinRegistry().all().filter((s) => !name || s.name === name);
      if (name && all.length === 0) throw new Error(`no connector named '${name}' (see 'stockbridge connectors')`);
      if (opts.markdown) {
        process.stdout.write(connectorsMarkdown(all));
        return;
      }
      if (opts.json) {
        const out = all.map(({ kind, name, summary, delivery, options, example }) => ({ kind, name, summary, delivery, options, example }));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      for (const kind of ['source', 'processor', 'sink'] as const) {
        const specs = all.filter((s) => s.kind === kind);
        if (!specs.length) continue;
        process.stdout.write(`${kind.toUpperCase()}S\n`);
        for (const s of specs) {
          process.stdout.write(`  ${s.name.padEnd(14)} ${s.summary}\n`);
          process.stdout.write(`  ${''.padEnd(14)} delivery: ${s.delivery}\n`);
          for (const o of optionRows(s)) {
            const def = o.default === undefined ? '' : ` (default ${JSON.stringify(o.default)})`;
            process.stdout.write(`      ${o.name}${o.required ? '*' : ''}: ${o.type}${def}${o.description ? ` — ${o.description}` : ''}\n`);
          }
          if (name && s.example) process.stdout.write(`\n  example:\n${s.example.replace(/^/gm, '    ')}\n`);
        }
        process.stdout.write('\n');
      }
      process.stdout.write('* required. Every component also takes `type:` and an optional `name:`.\n');
    });
}
