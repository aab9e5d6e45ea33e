/**
 * The expression compiler: AST -> closures, once per mapping. Never eval/new Function: user text only ever selects
 * among the closures written here.
 *
 * Compile-time work: constant folding (a constant expression that would fail is a compile error), direct property
 * reads for plain paths, type checks where the type is known (a condition that is text, arithmetic on a text
 * literal), table/column/zone/pattern/function-name resolution, and the sandbox rules: path segments `__proto__`,
 * `constructor` and `prototype` are refused, names that exist on built-in prototypes are read as own properties only,
 * and only the functions of functions.ts can be called.
 */
import { Dec } from './decimal.ts';
import { fault, MapFault } from './fault.ts';
import { type CallCtx, type Compiled, type Fn, Frame, type LetDef, type Scope, type Ty } from './frame.ts';
import { FUNCTIONS } from './functions.ts';
import { ExprError, type Node, parseExpression } from './parser.ts';
import {
  compare,
  equals,
  FORBIDDEN_KEYS,
  getDynamic,
  getIndex,
  getKey,
  isAbsent,
  isPlainKey,
  show,
  toBool,
  toDec,
  toText,
} from './values.ts';

const FOLD_FRAME = new Frame();

export function tyOf(v: unknown): Ty {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return 'text';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || v instanceof Dec) return 'num';
  if (Array.isArray(v)) return 'list';
  return 'any';
}

function konst(node: Node, v: unknown, t?: Ty): Compiled {
  return { node, t: t ?? tyOf(v), konst: { v }, fn: () => v };
}

/** Levenshtein distance, for "did you mean" hints. */
export function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

export function suggest(name: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bd = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(name, c);
    if (d < bd) {
      bd = d;
      best = c;
    }
  }
  return best !== undefined && bd <= Math.max(1, Math.floor(name.length / 3)) ? ` (did you mean ${best}?)` : '';
}

export function condOf(c: Compiled, what: string): (f: Frame) => boolean {
  if (c.t === 'text' || c.t === 'num' || c.t === 'instant' || c.t === 'list')
    throw new ExprError(
      `${what} must be true or false, but this is ${c.t === 'num' ? 'a number' : c.t === 'list' ? 'a list' : 'text'} (compare explicitly, e.g. x == 'Y')`,
      c.node.pos,
      c.node.end,
    );
  const fn = c.fn;
  if (c.t === 'bool') return (f) => fn(f) === true;
  return (f) => {
    const v = fn(f);
    return v === true ? true : v === false || v == null ? false : toBool(v, what);
  };
}

function checkNumeric(c: Compiled, op: string): void {
  if (c.t === 'bool' || c.t === 'list' || c.t === 'instant')
    throw new ExprError(
      `'${op}' needs numbers, but this is ${c.t === 'bool' ? 'true/false' : c.t === 'list' ? 'a list' : 'an instant'}`,
      c.node.pos,
      c.node.end,
    );
  if (c.konst && typeof c.konst.v === 'string' && Dec.parse(c.konst.v) === null)
    throw new ExprError(
      `'${op}' needs numbers, but ${JSON.stringify(c.konst.v)} is text (join text with &)`,
      c.node.pos,
      c.node.end,
    );
}

type Seg = { name: string } | { index: number } | { dyn: Fn };

export class ExprCompiler {
  readonly scope: Scope;
  /** Set when the compiled expression reads $item/$index (directly or through a let). */
  usesItem = false;

  constructor(scope: Scope) {
    this.scope = scope;
  }

  compile(n: Node): Compiled {
    const c = this.#compile(n);
    return c;
  }

  #compile(n: Node): Compiled {
    switch (n.k) {
      case 'lit':
        if (n.raw === 'num') {
          const d = Dec.parse(n.v as string);
          if (d === null) throw new ExprError(`bad number ${n.v}`, n.pos, n.end);
          return konst(n, d, 'num');
        }
        return konst(n, n.v);
      case 'field':
      case 'var':
      case 'get':
        return this.#path(n);
      case 'call':
        return this.#call(n);
      case 'unary':
        return this.#unary(n);
      case 'binary':
        return this.#binary(n);
      case 'cond': {
        const c = this.#compile(n.c);
        const a = this.#compile(n.a);
        const b = this.#compile(n.b);
        if (c.konst) {
          const v = c.konst.v;
          if (v !== true && v !== false && v !== null)
            throw new ExprError('the condition of ?: must be true or false', n.c.pos, n.c.end);
          return v === true ? a : b;
        }
        const test = condOf(c, 'the condition of ?:');
        const af = a.fn;
        const bf = b.fn;
        return { node: n, t: a.t === b.t ? a.t : 'any', fn: (f) => (test(f) ? af(f) : bf(f)) };
      }
      case 'array': {
        const items = n.items.map((i) => this.#compile(i));
        if (items.every((i) => i.konst)) return konst(n, Object.freeze(items.map((i) => i.konst!.v)), 'list');
        const fns = items.map((i) => i.fn);
        return { node: n, t: 'list', fn: (f) => fns.map((g) => g(f)) };
      }
    }
  }

  // ---- paths ------------------------------------------------------------------------------------------------------

  #path(n: Node): Compiled {
    // unwind obj.a[0].b into a root and segments
    const chain: Node[] = [];
    let root: Node = n;
    while (root.k === 'get') {
      chain.unshift(root.key);
      root = root.obj;
    }
    const segs: Seg[] = [];
    let rootFn: Fn;
    let t: Ty = 'any';
    let i = 0;
    if (root.k === 'field') {
      this.#checkName(root.name, root);
      segs.push({ name: root.name });
      rootFn = (f) => f.value;
    } else if (root.k === 'var') {
      switch (root.name) {
        case '$':
          rootFn = (f) => f.value;
          break;
        case '$meta':
          rootFn = (f) => f.rec.meta;
          break;
        case '$record': {
          const k = chain[0];
          if (k?.k !== 'lit' || (k.v !== 'ref' && k.v !== 'meta'))
            throw new ExprError('$record has two fields: $record.ref and $record.meta', root.pos, (k ?? root).end);
          i = 1;
          if (k.v === 'ref') {
            rootFn = (f) => f.rec.ref;
            t = 'text';
          } else rootFn = (f) => f.rec.meta;
          break;
        }
        case '$item':
          this.#needItem(root);
          rootFn = (f) => f.item;
          break;
        case '$index':
          this.#needItem(root);
          rootFn = (f) => f.index;
          t = 'num';
          break;
        default:
          return this.#segments(this.#letRef(root), chain, n);
      }
    } else return this.#segments(this.#compile(root), chain, n);
    for (; i < chain.length; i++) segs.push(this.#seg(chain[i]));
    if (segs.length === 0) return { node: n, t, fn: rootFn };
    return {
      node: n,
      t: 'any',
      fn: getter(rootFn, segs, root.k === 'field' || (root.k === 'var' && root.name === '$')),
    };
  }

  #segments(base: Compiled, chain: Node[], n: Node): Compiled {
    if (chain.length === 0) return base;
    const segs = chain.map((k) => this.#seg(k));
    if (base.konst) {
      let v = base.konst.v;
      for (const s of segs) {
        if ('dyn' in s) return { node: n, t: 'any', fn: getter(base.fn, segs, false) };
        v = 'name' in s ? getKey(v, s.name) : getIndex(v, s.index);
      }
      return konst(n, v ?? null);
    }
    return { node: n, t: 'any', fn: getter(base.fn, segs, false) };
  }

  #seg(k: Node): Seg {
    const c = this.#compile(k);
    if (c.konst) {
      const v = c.konst.v;
      if (typeof v === 'string') {
        this.#checkName(v, k);
        return { name: v };
      }
      const d = typeof v === 'number' ? Dec.ofInt(v) : v instanceof Dec ? v : null;
      const i = d ? Dec.toInt(d) : null;
      if (i === null) throw new ExprError(`cannot index with ${show(v)}`, k.pos, k.end);
      return { index: i };
    }
    if (c.t === 'bool') throw new ExprError('cannot index with true/false', k.pos, k.end);
    return { dyn: c.fn };
  }

  #checkName(name: string, at: Node): void {
    if (FORBIDDEN_KEYS.has(name))
      throw new ExprError(`'${name}' cannot be used as a field name (it is reserved)`, at.pos, at.end);
  }

  #needItem(at: Node): void {
    this.usesItem = true;
    if (!this.scope.item)
      throw new ExprError(
        `${at.k === 'var' ? at.name : '$item'} only exists in event templates with forEach: (per item of the list)`,
        at.pos,
        at.end,
      );
  }

  #letRef(v: Extract<Node, { k: 'var' }>): Compiled {
    const name = v.name.slice(1);
    const def = this.scope.lets.get(name);
    if (!def) {
      const known = [...this.scope.lets.keys()].map((k) => `$${k}`);
      throw new ExprError(
        `unknown variable ${v.name}${suggest(v.name, [...known, '$meta', '$record', '$item', '$index'])}; variables are $, $meta, $record, $item, $index and the names declared in let:${known.length ? ` (${known.join(', ')})` : ''}`,
        v.pos,
        v.end,
      );
    }
    const c = compileLet(def, this.scope);
    if (c.item) this.#needItem(v);
    const inner = c.fn;
    const idx = def.index;
    if (c.konst) return { ...c, node: v };
    if (c.item)
      return {
        node: v,
        t: c.t,
        item: true,
        fn: (f) => {
          if (f.letGen[idx] === f.igen) return f.lets[idx];
          const r = inner(f);
          f.lets[idx] = r;
          f.letGen[idx] = f.igen;
          return r;
        },
      };
    return {
      node: v,
      t: c.t,
      fn: (f) => {
        if (f.letGen[idx] === f.gen) return f.lets[idx];
        const r = inner(f);
        f.lets[idx] = r;
        f.letGen[idx] = f.gen;
        return r;
      },
    };
  }

  // ---- operators --------------------------------------------------------------------------------------------------

  #fold(n: Node, fn: Fn, t: Ty): Compiled {
    try {
      return konst(n, fn(FOLD_FRAME) ?? null, t);
    } catch (e) {
      if (e instanceof MapFault) throw new ExprError(`this always fails: ${e.reason}`, n.pos, n.end);
      throw e;
    }
  }

  #unary(n: Extract<Node, { k: 'unary' }>): Compiled {
    const a = this.#compile(n.a);
    let c: Compiled;
    const af = a.fn;
    if (n.op === 'not') {
      const test = condOf(a, "the operand of 'not'");
      c = { node: n, t: 'bool', fn: (f) => !test(f) };
    } else {
      checkNumeric(a, n.op);
      c =
        n.op === '-'
          ? {
              node: n,
              t: 'num',
              fn: (f) => {
                const d = toDec(af(f));
                return d === null ? null : Dec.neg(d);
              },
            }
          : { node: n, t: 'num', fn: (f) => toDec(af(f)) };
    }
    return a.konst ? this.#fold(n, c.fn, c.t) : c;
  }

  #binary(n: Extract<Node, { k: 'binary' }>): Compiled {
    if (n.op === '&') return this.#concat(n);
    const a = this.#compile(n.a);
    const b = this.#compile(n.b);
    const c = this.#binaryFn(n, a, b);
    if (a.konst && b.konst) return this.#fold(n, c.fn, c.t);
    // short-circuit folds: false and x, true or x, const ?? x
    if (n.op === 'and' && a.konst && a.konst.v !== true) return konst(n, false);
    if (n.op === 'or' && a.konst && a.konst.v === true) return konst(n, true);
    if (n.op === '??' && a.konst) return isAbsent(a.konst.v) ? b : a;
    return c;
  }

  #binaryFn(n: Extract<Node, { k: 'binary' }>, a: Compiled, b: Compiled): Compiled {
    const af = a.fn;
    const bf = b.fn;
    switch (n.op) {
      case '+':
      case '-':
      case '*':
      case '/':
      case '%': {
        checkNumeric(a, n.op);
        checkNumeric(b, n.op);
        const op =
          n.op === '+' ? Dec.add : n.op === '-' ? Dec.sub : n.op === '*' ? Dec.mul : n.op === '/' ? Dec.div : decMod;
        if (b.konst) {
          const y = toDec(b.konst.v);
          if (y === null) return konst(n, null);
          return {
            node: n,
            t: 'num',
            fn: (f) => {
              const x = toDec(af(f));
              return x === null ? null : op(x, y);
            },
          };
        }
        return {
          node: n,
          t: 'num',
          fn: (f) => {
            const x = toDec(af(f));
            if (x === null) return null;
            const y = toDec(bf(f));
            return y === null ? null : op(x, y);
          },
        };
      }
      case '==':
      case '!=': {
        const neg = n.op === '!=';
        const k = b.konst ? b.konst.v : a.konst ? a.konst.v : undefined;
        const other = b.konst ? af : bf;
        if (typeof k === 'string') {
          return {
            node: n,
            t: 'bool',
            fn: (f) => {
              const v = other(f);
              return (v === k || (typeof v !== 'string' && equals(v, k))) !== neg;
            },
          };
        }
        if (k === null) {
          return { node: n, t: 'bool', fn: (f) => (other(f) == null) !== neg };
        }
        return { node: n, t: 'bool', fn: (f) => equals(af(f), bf(f)) !== neg };
      }
      case '<':
        return { node: n, t: 'bool', fn: (f) => compare(af(f), bf(f)) < 0 };
      case '<=':
        return { node: n, t: 'bool', fn: (f) => compare(af(f), bf(f)) <= 0 };
      case '>':
        return { node: n, t: 'bool', fn: (f) => compare(af(f), bf(f)) > 0 };
      case '>=':
        return { node: n, t: 'bool', fn: (f) => compare(af(f), bf(f)) >= 0 };
      case 'in': {
        if (b.t !== 'list' && b.t !== 'any')
          throw new ExprError("the right side of 'in' must be a list, e.g. x in ['A', 'B']", n.b.pos, n.b.end);
        if (b.konst && Array.isArray(b.konst.v)) {
          const list = b.konst.v as unknown[];
          if (list.every((x) => typeof x === 'string')) {
            const set = new Set(list as string[]);
            return {
              node: n,
              t: 'bool',
              fn: (f) => {
                const v = af(f);
                return typeof v === 'string' ? set.has(v) : v != null && list.some((x) => equals(v, x));
              },
            };
          }
        }
        return {
          node: n,
          t: 'bool',
          fn: (f) => {
            const v = af(f);
            const l = bf(f);
            if (l === null || l === undefined) return false;
            if (!Array.isArray(l)) return fault(`expected a list after 'in', got ${show(l)}`);
            return l.some((x) => equals(v, x));
          },
        };
      }
      case 'and': {
        const x = condOf(a, "the left side of 'and'");
        const y = condOf(b, "the right side of 'and'");
        return { node: n, t: 'bool', fn: (f) => x(f) && y(f) };
      }
      case 'or': {
        const x = condOf(a, "the left side of 'or'");
        const y = condOf(b, "the right side of 'or'");
        return { node: n, t: 'bool', fn: (f) => x(f) || y(f) };
      }
      case '??': {
        const t: Ty = a.t === b.t ? a.t : b.t === 'null' ? a.t : 'any';
        return {
          node: n,
          t,
          fn: (f) => {
            const v = af(f);
            return v === null || v === undefined || v === '' ? bf(f) : v;
          },
        };
      }
      default:
        throw new ExprError(`unknown operator ${n.op}`, n.opPos);
    }
  }

  /** a & b & c: one closure over all operands; adjacent constants pre-joined. */
  #concat(n: Node): Compiled {
    const ops: Node[] = [];
    const walk = (x: Node) => {
      if (x.k === 'binary' && x.op === '&') {
        walk(x.a);
        walk(x.b);
      } else ops.push(x);
    };
    walk(n);
    const parts: Array<string | Fn> = [];
    for (const o of ops) {
      const c = this.#compile(o);
      if (c.t === 'list') throw new ExprError("'&' joins text; this is a list (use join(list, sep))", o.pos, o.end);
      if (c.konst) {
        const t = toTextSafe(c.konst.v, o);
        const last = parts[parts.length - 1];
        if (typeof last === 'string') parts[parts.length - 1] = last + t;
        else parts.push(t);
      } else {
        const fn = c.fn;
        parts.push(c.t === 'text' || c.t === 'instant' ? fn : (f: Frame) => toText(fn(f)));
      }
    }
    if (parts.length === 1 && typeof parts[0] === 'string') return konst(n, parts[0], 'text');
    if (parts.length === 2) {
      const [p, q] = parts;
      if (typeof p === 'string') {
        const g = q as Fn;
        return { node: n, t: 'text', fn: (f) => p + ((g(f) as string | null) ?? '') };
      }
      if (typeof q === 'string') return { node: n, t: 'text', fn: (f) => ((p(f) as string | null) ?? '') + q };
      return { node: n, t: 'text', fn: (f) => ((p(f) as string | null) ?? '') + ((q(f) as string | null) ?? '') };
    }
    return {
      node: n,
      t: 'text',
      fn: (f) => {
        let out = '';
        for (let i = 0; i < parts.length; i++) {
          const p = parts[i];
          out += typeof p === 'string' ? p : ((p(f) as string | null) ?? '');
        }
        return out;
      },
    };
  }

  // ---- calls ------------------------------------------------------------------------------------------------------

  #call(n: Extract<Node, { k: 'call' }>): Compiled {
    const spec = Object.hasOwn(FUNCTIONS, n.fn) ? FUNCTIONS[n.fn] : undefined;
    if (!spec)
      throw new ExprError(
        `unknown function ${n.fn}()${suggest(n.fn, Object.keys(FUNCTIONS))}; see docs/mapping-language.md for the list`,
        n.pos,
        n.nameEnd,
      );
    const argc = n.args.length;
    if (argc < spec.min || argc > spec.max) {
      const range =
        spec.min === spec.max
          ? `${spec.min}`
          : spec.max === Number.POSITIVE_INFINITY
            ? `at least ${spec.min}`
            : `${spec.min} to ${spec.max}`;
      throw new ExprError(`${spec.sig} takes ${range} argument${spec.max === 1 ? '' : 's'}, got ${argc}`, n.pos, n.end);
    }
    const memo: Array<Compiled | undefined> = [];
    const ctx: CallCtx = {
      node: n,
      scope: this.scope,
      arg: (i) => (memo[i] ??= this.#compile(n.args[i])),
      sub: (x) => this.#compile(x as Node),
      error: (message, at) => {
        throw new ExprError(message, (at ?? n).pos, (at ?? n).end);
      },
    };
    if (spec.compile) {
      let r: Compiled | undefined;
      try {
        r = spec.compile(ctx);
      } catch (e) {
        if (e instanceof MapFault) throw new ExprError(e.reason, n.pos, n.end);
        throw e;
      }
      if (r) {
        const allConst = !spec.impure && n.args.every((_, i) => memo[i]?.konst);
        return allConst ? this.#fold(n, r.fn, r.t) : r;
      }
    }
    const impl = spec.impl!;
    const args = n.args.map((_, i) => ctx.arg(i));
    if (!spec.impure && args.every((a) => a.konst)) {
      const vals = args.map((a) => a.konst!.v);
      return this.#fold(n, () => impl(...vals), spec.t);
    }
    const fns = args.map((a) => a.fn);
    const t = spec.t;
    switch (fns.length) {
      case 1: {
        const [a] = fns;
        return { node: n, t, fn: (f) => impl(a(f)) };
      }
      case 2: {
        const [a, b] = fns;
        return { node: n, t, fn: (f) => impl(a(f), b(f)) };
      }
      case 3: {
        const [a, b, c] = fns;
        return { node: n, t, fn: (f) => impl(a(f), b(f), c(f)) };
      }
      default:
        return { node: n, t, fn: (f) => impl(...fns.map((g) => g(f))) };
    }
  }
}

function toTextSafe(v: unknown, at: Node): string {
  try {
    return toText(v) ?? '';
  } catch (e) {
    if (e instanceof MapFault) throw new ExprError(e.reason, at.pos, at.end);
    throw e;
  }
}

function decMod(a: Dec, b: Dec): Dec {
  const q = Dec.divRound(a, b, 0, 'down');
  return Dec.sub(a, Dec.mul(q, b));
}

/** Property-read closure for a root and static/dynamic segments; plain names read directly. */
function getter(root: Fn, segs: Seg[], fromValue: boolean): Fn {
  const allPlain = segs.every((s) => 'name' in s && isPlainKey(s.name));
  if (allPlain) {
    const names = segs.map((s) => (s as { name: string }).name);
    if (fromValue) {
      if (names.length === 1) {
        const [k] = names;
        return (f) => {
          const o = f.value;
          return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined;
        };
      }
      if (names.length === 2) {
        const [k1, k2] = names;
        return (f) => {
          const o = f.value;
          if (typeof o !== 'object' || o === null) return undefined;
          const p = (o as Record<string, unknown>)[k1];
          return typeof p === 'object' && p !== null ? (p as Record<string, unknown>)[k2] : undefined;
        };
      }
    } else if (names.length === 1) {
      const [k] = names;
      return (f) => {
        const o = root(f);
        return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined;
      };
    }
  }
  let fn: Fn = root;
  for (const s of segs) {
    const prev = fn;
    if ('name' in s) {
      const k = s.name;
      fn = isPlainKey(k)
        ? (f) => {
            const o = prev(f);
            return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined;
          }
        : (f) => getKey(prev(f), k);
    } else if ('index' in s) {
      const i = s.index;
      fn = (f) => getIndex(prev(f), i);
    } else {
      const kf = s.dyn;
      fn = (f) => getDynamic(prev(f), kf(f));
    }
  }
  return fn;
}

/** Compiles a `let` definition once (cycles are errors), reporting errors at the let's own position. */
export function compileLet(def: LetDef, scope: Scope): Compiled {
  if (def.state === 'done') return def.compiled!;
  if (def.state === 'compiling')
    throw new ExprError(`$${def.name} is defined in terms of itself`, def.node.pos, def.node.end);
  def.state = 'compiling';
  try {
    const ec = new ExprCompiler({ ...scope, item: true });
    const c = ec.compile(def.node);
    def.compiled = { ...c, item: ec.usesItem };
    def.state = 'done';
    return def.compiled;
  } catch (e) {
    def.state = 'new';
    if (def.err && e instanceof ExprError) def.err(e);
    throw e;
  }
}

/** Parses and compiles an expression; ExprError offsets are relative to `src`. */
export function compileExpression(src: string, scope: Scope): Compiled & { usesItem: boolean } {
  const node = parseExpression(src);
  const ec = new ExprCompiler(scope);
  const c = ec.compile(node);
  return { ...c, usesItem: ec.usesItem, item: ec.usesItem };
}
