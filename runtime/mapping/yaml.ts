/**
 * YAML with positions for mapping files: parse keeping node ranges, find nodes by path, and translate an offset
 * inside an expression string to `file:line:col` of the YAML file, for plain, quoted (with escapes) and block
 * scalars.
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type Document,
  Scalar,
} from 'yaml';
import { ConfigError } from '../contracts/spi.ts';

export type Path = ReadonlyArray<string | number>;

export class YamlDoc {
  readonly file: string;
  readonly text: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;

  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
    this.lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true, merge: false });
    const err = this.doc.errors[0];
    if (err) {
      const p = this.lines.linePos(err.pos[0]);
      throw new ConfigError(err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''), {
        file,
        line: p.line,
        column: p.col,
      });
    }
  }

  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 1000 });
  }

  node(path: Path): Node | undefined {
    if (path.length === 0) return (this.doc.contents as Node | null) ?? undefined;
    // walk by hand so that aliases (*name) resolve to their anchored node, wherever they sit on the path
    let n: unknown = this.doc.contents;
    for (const seg of path) {
      if (isAlias(n)) n = n.resolve(this.doc);
      if (isMap(n)) {
        const pair = n.items.find((p) => isScalar(p.key) && p.key.value === seg);
        n = pair?.value;
      } else if (isSeq(n) && typeof seg === 'number') n = n.items[seg];
      else return undefined;
    }
    if (isAlias(n)) n = n.resolve(this.doc);
    return (n as Node | null) ?? undefined;
  }

  /** The key node of `path`'s last segment in its parent map (for "unknown property" errors). */
  keyNode(path: Path): Node | undefined {
    const parent = this.node(path.slice(0, -1));
    const last = path[path.length - 1];
    if (isMap(parent))
      for (const p of parent.items) if (isPair(p) && isScalar(p.key) && p.key.value === last) return p.key as Node;
    return undefined;
  }

  position(offset: number): { line: number; column: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  errorAtOffset(offset: number, message: string): ConfigError {
    const p = this.position(offset);
    return new ConfigError(message, { file: this.file, line: p.line, column: p.column });
  }

  /** A ConfigError at a node (or at the closest existing ancestor of `path`). */
  error(at: Path | Node | undefined, message: string): ConfigError {
    let node: Node | undefined;
    if (Array.isArray(at)) {
      const path = at as Path;
      for (let n = path.length; n >= 0 && !node; n--) node = this.node(path.slice(0, n));
    } else node = at as Node | undefined;
    const start = node?.range?.[0];
    if (start === undefined) return new ConfigError(message, { file: this.file });
    return this.errorAtOffset(start, message);
  }

  /**
   * File offset of character `k` of a scalar's value. Walks the scalar's source text alongside its value: quotes,
   * escapes (`\"`, `\n`, `\x41`, `\u00e9`, `''`), line folding and block indentation are skipped.
   */
  valueOffset(node: Scalar, k: number): number {
    const [start, end] = node.range ?? [0, 0];
    const src = this.text.slice(start, end);
    const value = typeof node.value === 'string' ? node.value : String(node.source ?? node.value);
    let j = 0;
    const dq = node.type === Scalar.QUOTE_DOUBLE;
    const sq = node.type === Scalar.QUOTE_SINGLE;
    if (dq || sq) j = 1;
    else if (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) {
      const nl = src.indexOf('\n');
      j = nl < 0 ? src.length : nl + 1;
    }
    const ws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
    const limit = Math.min(k, value.length);
    for (let i = 0; i <= limit && j < src.length; i++) {
      const c = value[i];
      // escapes and doubled quotes first: they stand for one value character
      if (dq && src[j] === '\\') {
        const e = src[j + 1];
        if (e === '\n' || e === '\r') {
          // escaped line break: no value character
          j += 2;
          while (j < src.length && ws(src[j])) j++;
          i--;
          continue;
        }
        if (i === limit) return start + j;
        j += e === 'x' ? 4 : e === 'u' ? 6 : e === 'U' ? 10 : 2;
        continue;
      }
      if (sq && src[j] === "'" && src[j + 1] === "'") {
        if (i === limit) return start + j;
        j += 2;
        continue;
      }
      if (c === undefined) break;
      if (ws(c)) {
        if (i === limit) return start + j;
        if (src[j] === c) j++;
        else if (ws(src[j])) while (j < src.length && ws(src[j])) j++;
        continue;
      }
      // a visible character: find it (skipping indentation and folded line breaks)
      let jj = j;
      while (jj < src.length && src[jj] !== c) jj++;
      if (jj >= src.length) return start + j;
      if (i === limit) return start + jj;
      j = jj + 1;
    }
    return start + Math.min(j, Math.max(0, src.length - 1));
  }
}

export function isScalarNode(n: unknown): n is Scalar {
  return isScalar(n);
}

export { isMap, isSeq, isScalar, isPair };
