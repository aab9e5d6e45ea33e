/**
 * YAML with positions: parse a config file keeping every node's location, substitute `${env:NAME}` and
 * `${file:path}` references, and turn JSON-pointer paths (Ajv's instancePath) back into `file:line:col`.
 * Shared by pipeline and mapping files.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, visit } from 'yaml';
import type { ErrorObject } from 'ajv';
import { ConfigError } from '../contracts/spi.ts';
import { registerSecret } from '../observability/log.ts';

export interface YamlFile {
  file: string;
  baseDir: string;
  doc: Document.Parsed;
  lines: LineCounter;
  /** Paths (dotted) whose values came from a substitution: never print them. */
  secretPaths: Set<string>;
}

export interface Position {
  line: number;
  column: number;
}

/** Reads and parses a YAML file; syntax errors become ConfigError with the position. */
export function readYamlFile(file: string, text?: string): YamlFile {
  let src: string;
  try {
    src = text ?? readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(e.code === 'ENOENT' ? 'file not found' : `cannot read file: ${e.message}`, { file });
  }
  const lines = new LineCounter();
  const doc = parseDocument(src, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = lines.linePos(err.pos[0]);
    throw new ConfigError(firstLine(err.message), { file, line: pos.line, column: pos.col });
  }
  return { file, baseDir: dirname(resolve(file)), doc, lines, secretPaths: new Set() };
}

function firstLine(s: string): string {
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

export function positionOf(y: YamlFile, node: Node | undefined | null): Position | undefined {
  const start = node?.range?.[0];
  if (start === undefined) return undefined;
  const p = y.lines.linePos(start);
  return { line: p.line, column: p.col };
}

export function errorAt(y: YamlFile, node: Node | undefined | null, message: string): ConfigError {
  const pos = positionOf(y, node);
  return new ConfigError(message, { file: y.file, line: pos?.line, column: pos?.column });
}

/** The node at a path of keys/indices; for a missing key, the nearest existing parent. */
export function nodeAt(y: YamlFile, path: ReadonlyArray<string | number>, keyNode = false): Node | undefined {
  let node: unknown = y.doc.contents;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return node;
      if (keyNode && i === path.length - 1) return pair.key as Node;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (!item) return node;
      node = item;
    } else return node as Node;
  }
  return node as Node;
}

const REF = /\$\{(env|file):([^}]*)\}/g;

/**
 * Replaces `${env:NAME}` and `${file:path}` in every string scalar (a file's trailing newline is dropped).
 * `$${` escapes a literal `${`. Unset variables and unreadable files are errors at the scalar's position.
 */
export function substitute(y: YamlFile, env: NodeJS.ProcessEnv = process.env): void {
  visit(y.doc, {
    Scalar(_key, node, path) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const raw = node.value;
      let secret = false;
      const out = raw.replace(/(\$?)\$\{(env|file):([^}]*)\}/g, (whole, escape: string, kind: string, arg: string) => {
        if (escape) return whole.slice(1);
        const name = arg.trim();
        let value: string | undefined;
        if (kind === 'env') {
          value = env[name];
          if (value === undefined) throw errorAt(y, node, `environment variable ${name} is not set (referenced as \${env:${name}})`);
        } else {
          const p = resolve(y.baseDir, name);
          try {
            value = readFileSync(p, 'utf8').replace(/\r?\n$/, '');
          } catch (err) {
            throw errorAt(y, node, `cannot read ${p} (referenced as \${file:${name}}): ${(err as Error).message}`);
          }
        }
        secret = true;
        registerSecret(value);
        return value;
      });
      if (out !== raw) node.value = out;
      if (secret) y.secretPaths.add(pathKeys(path).join('.'));
    },
  });
  REF.lastIndex = 0;
}

function pathKeys(path: readonly unknown[]): string[] {
  const keys: string[] = [];
  for (const p of path) if (isPair(p) && isScalar(p.key)) keys.push(String(p.key.value));
  return keys;
}

/** Converts the most useful Ajv error into a ConfigError at the right place; `prefix` is the object's path. */
export function ajvError(y: YamlFile, errors: ErrorObject[], prefix: ReadonlyArray<string | number>, what: string): ConfigError {
  // Prefer the deepest error (the actual culprit, not a failing branch above it); at equal depth an unknown key
  // beats a missing one, since a typo usually causes both.
  const rank = (x: ErrorObject) =>
    x.instancePath.split('/').length * 10 + (x.keyword === 'additionalProperties' ? 2 : x.keyword === 'required' ? 0 : 1);
  const e = [...errors].sort((a, b) => rank(b) - rank(a))[0];
  const segs = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const path = [...prefix, ...segs];
  const dotted = path.join('.');
  const inner = segs.length ? ` at ${segs.join('.')}` : '';
  let message: string;
  let node: Node | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      node = nodeAt(y, [...path, key], true);
      message = `unknown option '${key}' in ${what}${inner}`;
      break;
    }
    case 'required':
      node = nodeAt(y, path);
      message = `missing required option '${String(e.params.missingProperty)}' in ${what}${inner}`;
      break;
    case 'enum':
      node = nodeAt(y, path);
      message = `${dotted} must be one of: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    default:
      node = nodeAt(y, path);
      message = `${dotted || what} ${e.message ?? 'is invalid'}`;
  }
  return errorAt(y, node, message);
}
