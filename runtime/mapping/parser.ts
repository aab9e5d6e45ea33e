/**
 * Lexer and parser of the mapping expression language (reference: docs/mapping-language.md).
 *
 * Produces a small AST in which every node carries its source span (offsets into the expression text); the YAML
 * layer turns offsets into `file:line:col` of the mapping file. Parsing never evaluates anything.
 *
 * Precedence, lowest first:
 *   c ? a : b   (right-assoc)
 *   ??
 *   or  ||
 *   and &&
 *   not !       (prefix)
 *   == != < <= > >= in   (non-associative)
 *   &           (text concatenation)
 *   + -
 *   * / %
 *   - +         (prefix)
 *   postfix     .name  [index]  f(args)
 */

export class ExprError extends Error {
  /** Offset in the expression text where the problem starts, and where it ends. */
  readonly pos: number;
  readonly end: number;
  constructor(message: string, pos: number, end = pos + 1) {
    super(message);
    this.pos = pos;
    this.end = end;
  }
}

export type BinaryOp =
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '&'
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'in'
  | 'and'
  | 'or'
  | '??';

export type Node =
  | { k: 'lit'; v: string | number | boolean | null; raw?: string; pos: number; end: number }
  /** A bare name: a field of the record (`store_no`), or a table name where a function expects one. */
  | { k: 'field'; name: string; pos: number; end: number; quoted: boolean }
  /** `$`, `$meta`, `$record`, `$item`, `$index`, `$<let name>`. */
  | { k: 'var'; name: string; pos: number; end: number }
  /** obj.name, obj['name'], obj[0], obj[expr] */
  | { k: 'get'; obj: Node; key: Node; pos: number; end: number }
  | { k: 'call'; fn: string; args: Node[]; pos: number; end: number; nameEnd: number }
  | { k: 'unary'; op: '-' | '+' | 'not'; a: Node; pos: number; end: number }
  | { k: 'binary'; op: BinaryOp; a: Node; b: Node; pos: number; end: number; opPos: number }
  | { k: 'cond'; c: Node; a: Node; b: Node; pos: number; end: number }
  | { k: 'array'; items: Node[]; pos: number; end: number };

type TokType = 'num' | 'str' | 'id' | 'qid' | 'var' | 'op' | 'eof';
interface Tok {
  t: TokType;
  v: string;
  pos: number;
  end: number;
}

const OPS = [
  '??',
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '(',
  ')',
  '[',
  ']',
  ',',
  '.',
  '?',
  ':',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '%',
  '&',
  '!',
];

function isIdStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
}
function isIdPart(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57);
}

export function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      i++;
      continue;
    }
    const start = i;
    if (c >= 48 && c <= 57) {
      while (i < n && src.charCodeAt(i) >= 48 && src.charCodeAt(i) <= 57) i++;
      if (src[i] === '.' && /[0-9]/.test(src[i + 1] ?? '')) {
        i++;
        while (i < n && src.charCodeAt(i) >= 48 && src.charCodeAt(i) <= 57) i++;
      }
      if ((src[i] === 'e' || src[i] === 'E') && /[0-9+-]/.test(src[i + 1] ?? '')) {
        let j = i + 1;
        if (src[j] === '+' || src[j] === '-') j++;
        if (/[0-9]/.test(src[j] ?? '')) {
          i = j;
          while (i < n && src.charCodeAt(i) >= 48 && src.charCodeAt(i) <= 57) i++;
        }
      }
      if (i < n && isIdStart(src.charCodeAt(i)))
        throw new ExprError(`unexpected '${src[i]}' after number ${src.slice(start, i)}`, i);
      toks.push({ t: 'num', v: src.slice(start, i), pos: start, end: i });
      continue;
    }
    if (c === 39 || c === 34) {
      // 'text' or "text" with backslash escapes
      const q = c;
      i++;
      let v = '';
      for (;;) {
        if (i >= n) throw new ExprError('unterminated text literal (missing closing quote)', start, n);
        const d = src.charCodeAt(i);
        if (d === q) {
          if (q === 39 && src.charCodeAt(i + 1) === 39) {
            // SQL style: '' inside '...' is one quote
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === 92) {
          const e = src[i + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
          if (e === 'u') {
            const hex = src.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ExprError('bad \\u escape (needs 4 hex digits)', i, i + 2);
            v += String.fromCharCode(Number.parseInt(hex, 16));
            i += 6;
            continue;
          }
          if (e === undefined || !(e in map))
            throw new ExprError(`unknown escape \\${e ?? ''} in text literal`, i, Math.min(n, i + 2));
          v += map[e];
          i += 2;
          continue;
        }
        v += src[i];
        i++;
      }
      toks.push({ t: 'str', v, pos: start, end: i });
      continue;
    }
    if (c === 96) {
      // `field name with spaces`
      const close = src.indexOf('`', i + 1);
      if (close < 0) throw new ExprError('unterminated `quoted name`', start, n);
      const v = src.slice(i + 1, close);
      if (v.length === 0) throw new ExprError('empty `quoted name`', start, close + 1);
      i = close + 1;
      toks.push({ t: 'qid', v, pos: start, end: i });
      continue;
    }
    if (c === 36) {
      // $, $name
      i++;
      while (i < n && isIdPart(src.charCodeAt(i))) i++;
      toks.push({ t: 'var', v: src.slice(start, i), pos: start, end: i });
      continue;
    }
    if (isIdStart(c)) {
      while (i < n && isIdPart(src.charCodeAt(i))) i++;
      toks.push({ t: 'id', v: src.slice(start, i), pos: start, end: i });
      continue;
    }
    let op: string | undefined;
    for (const o of OPS)
      if (src.startsWith(o, i)) {
        op = o;
        break;
      }
    if (!op) {
      if (c === 61) throw new ExprError("'=' is not an operator: compare with '=='", i);
      throw new ExprError(`unexpected character ${JSON.stringify(src[i])}`, i);
    }
    i += op.length;
    toks.push({ t: 'op', v: op, pos: start, end: i });
  }
  toks.push({ t: 'eof', v: '', pos: n, end: n });
  return toks;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'true', 'false', 'null']);

export function parseExpression(src: string): Node {
  const p = new Parser(src, tokenize(src));
  if (p.peek().t === 'eof') throw new ExprError('empty expression', 0, Math.max(1, src.length));
  const node = p.expr();
  const t = p.peek();
  if (t.t !== 'eof') {
    if (t.v === ':') throw new ExprError("unexpected ':' (the ternary is cond ? a : b)", t.pos, t.end);
    throw new ExprError(`unexpected ${describe(t)} after the end of the expression`, t.pos, t.end);
  }
  return node;
}

function describe(t: Tok): string {
  if (t.t === 'eof') return 'end of expression';
  if (t.t === 'str') return 'text literal';
  if (t.t === 'num') return `number ${t.v}`;
  return `'${t.v}'`;
}

class Parser {
  readonly src: string;
  readonly toks: Tok[];
  i = 0;
  depth = 0;
  constructor(src: string, toks: Tok[]) {
    this.src = src;
    this.toks = toks;
  }

  peek(): Tok {
    return this.toks[this.i];
  }
  next(): Tok {
    return this.toks[this.i++];
  }
  isOp(v: string): boolean {
    const t = this.toks[this.i];
    return t.t === 'op' && t.v === v;
  }
  isKw(v: string): boolean {
    const t = this.toks[this.i];
    return t.t === 'id' && t.v === v;
  }
  expect(v: string, what: string): Tok {
    const t = this.peek();
    if (t.t !== 'op' || t.v !== v) throw new ExprError(`expected '${v}' ${what}, found ${describe(t)}`, t.pos, t.end);
    return this.next();
  }

  expr(): Node {
    if (++this.depth > 200) throw new ExprError('expression nested too deeply', this.peek().pos);
    try {
      return this.ternary();
    } finally {
      this.depth--;
    }
  }

  ternary(): Node {
    const c = this.coalesce();
    if (!this.isOp('?')) return c;
    this.next();
    const a = this.expr();
    this.expect(':', 'in the ternary c ? a : b');
    const b = this.expr();
    return { k: 'cond', c, a, b, pos: c.pos, end: b.end };
  }

  coalesce(): Node {
    let a = this.or();
    while (this.isOp('??')) {
      const op = this.next();
      const b = this.or();
      a = { k: 'binary', op: '??', a, b, pos: a.pos, end: b.end, opPos: op.pos };
    }
    return a;
  }

  or(): Node {
    let a = this.and();
    while (this.isKw('or') || this.isOp('||')) {
      const op = this.next();
      const b = this.and();
      a = { k: 'binary', op: 'or', a, b, pos: a.pos, end: b.end, opPos: op.pos };
    }
    return a;
  }

  and(): Node {
    let a = this.not();
    while (this.isKw('and') || this.isOp('&&')) {
      const op = this.next();
      const b = this.not();
      a = { k: 'binary', op: 'and', a, b, pos: a.pos, end: b.end, opPos: op.pos };
    }
    return a;
  }

  not(): Node {
    if (this.isKw('not') || this.isOp('!')) {
      const op = this.next();
      const a = this.not();
      return { k: 'unary', op: 'not', a, pos: op.pos, end: a.end };
    }
    return this.compare();
  }

  compare(): Node {
    const a = this.concat();
    const t = this.peek();
    let op: BinaryOp | undefined;
    if (t.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) op = t.v as BinaryOp;
    else if (t.t === 'id' && t.v === 'in') op = 'in';
    if (!op) return a;
    this.next();
    const b = this.concat();
    const t2 = this.peek();
    if ((t2.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t2.v)) || (t2.t === 'id' && t2.v === 'in'))
      throw new ExprError(`comparisons do not chain: write (a ${op} b) and (b ${t2.v} c)`, t2.pos, t2.end);
    return { k: 'binary', op, a, b, pos: a.pos, end: b.end, opPos: t.pos };
  }

  concat(): Node {
    let a = this.additive();
    while (this.isOp('&')) {
      const op = this.next();
      const b = this.additive();
      a = { k: 'binary', op: '&', a, b, pos: a.pos, end: b.end, opPos: op.pos };
    }
    return a;
  }

  additive(): Node {
    let a = this.multiplicative();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next();
      const b = this.multiplicative();
      a = { k: 'binary', op: op.v as BinaryOp, a, b, pos: a.pos, end: b.end, opPos: op.pos };
    }
    return a;
  }

  multiplicative(): Node {
    let a = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = this.next();
      const b = this.unary();
      a = { k: 'binary', op: op.v as BinaryOp, a, b, pos: a.pos, end: b.end, opPos: op.pos };
    }
    return a;
  }

  unary(): Node {
    if (this.isOp('-') || this.isOp('+')) {
      const op = this.next();
      const a = this.unary();
      return { k: 'unary', op: op.v as '-' | '+', a, pos: op.pos, end: a.end };
    }
    return this.postfix();
  }

  postfix(): Node {
    let a = this.primary();
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const t = this.next();
        if (t.t === 'id' || t.t === 'qid')
          a = { k: 'get', obj: a, key: { k: 'lit', v: t.v, pos: t.pos, end: t.end }, pos: a.pos, end: t.end };
        else if (t.t === 'num' && /^\d+$/.test(t.v))
          a = { k: 'get', obj: a, key: { k: 'lit', v: Number(t.v), pos: t.pos, end: t.end }, pos: a.pos, end: t.end };
        else throw new ExprError(`expected a field name after '.', found ${describe(t)}`, t.pos, t.end);
      } else if (this.isOp('[')) {
        const open = this.next();
        if (this.isOp(']')) throw new ExprError("empty [] (write an index like [0] or a name like ['a b'])", open.pos);
        const key = this.expr();
        const close = this.expect(']', 'to close [');
        a = { k: 'get', obj: a, key, pos: a.pos, end: close.end };
      } else if (this.isOp('(')) {
        const t = this.peek();
        throw new ExprError('only named functions can be called', t.pos, t.end);
      } else return a;
    }
  }

  args(): { args: Node[]; end: number } {
    const args: Node[] = [];
    if (this.isOp(')')) return { args, end: this.next().end };
    for (;;) {
      args.push(this.expr());
      if (this.isOp(',')) {
        this.next();
        continue;
      }
      const close = this.expect(')', 'to close the argument list');
      return { args, end: close.end };
    }
  }

  primary(): Node {
    const t = this.next();
    switch (t.t) {
      case 'num':
        return { k: 'lit', v: t.v, raw: 'num', pos: t.pos, end: t.end };
      case 'str':
        return { k: 'lit', v: t.v, pos: t.pos, end: t.end };
      case 'qid':
        return { k: 'field', name: t.v, pos: t.pos, end: t.end, quoted: true };
      case 'var':
        if (this.isOp('(')) throw new ExprError(`${t.v} is not a function`, t.pos, t.end);
        return { k: 'var', name: t.v, pos: t.pos, end: t.end };
      case 'id': {
        if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true', pos: t.pos, end: t.end };
        if (t.v === 'null') return { k: 'lit', v: null, pos: t.pos, end: t.end };
        if (this.isOp('(')) {
          this.next();
          const { args, end } = this.args();
          return { k: 'call', fn: t.v, args, pos: t.pos, end, nameEnd: t.end };
        }
        if (KEYWORDS.has(t.v))
          throw new ExprError(`unexpected keyword '${t.v}' (quote a field of that name: \`${t.v}\`)`, t.pos, t.end);
        return { k: 'field', name: t.v, pos: t.pos, end: t.end, quoted: false };
      }
      case 'op': {
        if (t.v === '(') {
          const e = this.expr();
          this.expect(')', 'to close (');
          return e;
        }
        if (t.v === '[') {
          const items: Node[] = [];
          if (this.isOp(']')) return { k: 'array', items, pos: t.pos, end: this.next().end };
          for (;;) {
            items.push(this.expr());
            if (this.isOp(',')) {
              this.next();
              continue;
            }
            const close = this.expect(']', 'to close the list');
            return { k: 'array', items, pos: t.pos, end: close.end };
          }
        }
        throw new ExprError(`unexpected '${t.v}'`, t.pos, t.end);
      }
      default:
        throw new ExprError('unexpected end of expression', t.pos, t.end);
    }
  }
}
