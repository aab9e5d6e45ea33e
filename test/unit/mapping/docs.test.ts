/** docs/mapping-language.md documents every function and every key of a mapping file. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mappingSchema } from '../../../runtime/mapping/compile.ts';
import { FUNCTIONS } from '../../../runtime/mapping/functions.ts';

const doc = readFileSync(join(import.meta.dirname, '../../../docs/mapping-language.md'), 'utf8');

describe('docs/mapping-language.md', () => {
  it('lists every function with its signature', () => {
    for (const f of Object.values(FUNCTIONS)) expect(doc, f.sig).toContain(`\`${f.sig}\``);
  });

  it('describes every top-level key and template field', () => {
    const schema = mappingSchema();
    for (const k of Object.keys(schema.properties).filter((k) => k !== '$schema'))
      expect(doc, k).toContain(`| \`${k}\``);
    for (const k of Object.keys(schema.definitions.template.properties)) expect(doc, k).toContain(k);
    for (const k of Object.keys(schema.definitions.rule.properties)) expect(doc, k).toContain(`${k}:`);
  });
});
