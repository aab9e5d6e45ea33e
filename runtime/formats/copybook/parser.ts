/**
 * COBOL copybook parser: data description entries (level numbers 01–49, 77, 88) with PICTURE, USAGE, SIGN,
 * OCCURS [DEPENDING ON], REDEFINES, VALUE, FILLER, JUSTIFIED and BLANK WHEN ZERO, in fixed (columns 7/8–72) or
 * free source format. The result is a tree of items with their byte sizes; decoder.ts compiles it.
 *
 * Every problem in the copybook is a ConfigError at the copybook's line and column.
 */
import { ConfigError } from '../../contracts/spi.ts';

export type Usage = 'display' | 'binary' | 'native-binary' | 'packed';

export interface Picture {
  /** The picture string as written (after expanding nothing). */
  text: string;
  /** alnum: PIC X/A; numeric: 9/S/V/P; edited: numeric-edited (Z, *, +, -, ., ',', B, 0, /, CR, DB, $), read as text. */
  kind: 'alnum' | 'numeric' | 'edited';
  /** Character positions (alnum/edited) or stored digit positions (numeric, P excluded). */
  length: number;
  digits: number;
  /** Decimal places of the value: V digits plus leading P positions; negative for trailing P (value × 10^-scale). */
  scale: number;
  signed: boolean;
}

export interface Occurs {
  min: number;
  max: number;
  dependingOn?: string;
  line: number;
  column: number;
}

export interface Item {
  level: number;
  /** Name as written; null for FILLER (or an unnamed entry). */
  name: string | null;
  line: number;
  column: number;
  children: Item[];
  parent?: Item;
  pic?: Picture;
  usage: Usage;
  /** Explicit USAGE on this entry (groups pass it down). */
  usageSet?: boolean;
  sign?: { leading: boolean; separate: boolean };
  signSet?: boolean;
  occurs?: Occurs;
  redefines?: string;
  /** Items that REDEFINE this one (in order). */
  redefinedBy: Item[];
  justifiedRight?: boolean;
  /** Size in bytes of one occurrence (maximum when it contains OCCURS DEPENDING ON). */
  size: number;
  /** True when the size varies (contains OCCURS DEPENDING ON). */
  variable: boolean;
}

export interface Copybook {
  file: string;
  /** Records: the 01 levels, or one synthetic group when the copybook starts below 01 (e.g. at 03 or 05). */
  records: Item[];
}

export type SourceFormat = 'auto' | 'fixed' | 'free';

interface Token {
  text: string;
  upper: string;
  line: number;
  column: number;
  quoted?: boolean;
  period?: boolean;
}

const KEYWORDS = new Set([
  'PIC',
  'PICTURE',
  'USAGE',
  'IS',
  'REDEFINES',
  'OCCURS',
  'VALUE',
  'VALUES',
  'SIGN',
  'LEADING',
  'TRAILING',
  'SEPARATE',
  'JUST',
  'JUSTIFIED',
  'BLANK',
  'SYNC',
  'SYNCHRONIZED',
  'GLOBAL',
  'EXTERNAL',
  'RENAMES',
  'DISPLAY',
  'COMP',
  'COMP-1',
  'COMP-2',
  'COMP-3',
  'COMP-4',
  'COMP-5',
  'COMPUTATIONAL',
  'COMPUTATIONAL-1',
  'COMPUTATIONAL-2',
  'COMPUTATIONAL-3',
  'COMPUTATIONAL-4',
  'COMPUTATIONAL-5',
  'BINARY',
  'PACKED-DECIMAL',
  'NATIONAL',
  'INDEX',
  'POINTER',
  'DISPLAY-1',
]);

const USAGES: Readonly<Record<string, Usage | 'float' | 'unsupported'>> = {
  DISPLAY: 'display',
  COMP: 'binary',
  'COMP-4': 'binary',
  COMPUTATIONAL: 'binary',
  'COMPUTATIONAL-4': 'binary',
  BINARY: 'binary',
  'COMP-5': 'native-binary',
  'COMPUTATIONAL-5': 'native-binary',
  'COMP-3': 'packed',
  'COMPUTATIONAL-3': 'packed',
  'PACKED-DECIMAL': 'packed',
  'COMP-1': 'float',
  'COMP-2': 'float',
  'COMPUTATIONAL-1': 'float',
  'COMPUTATIONAL-2': 'float',
  NATIONAL: 'unsupported',
  INDEX: 'unsupported',
  POINTER: 'unsupported',
  'DISPLAY-1': 'unsupported',
};

class Lexer {
  readonly tokens: Token[] = [];
  readonly file: string;

  constructor(file: string, text: string, format: SourceFormat) {
    this.file = file;
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    const fixed = format === 'fixed' || (format === 'auto' && detectFixed(lines));
    let literal: Token | undefined;
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i].replace(/\t/g, ' ');
      let start = 0;
      let end = raw.length;
      if (fixed) {
        const ind = raw[6] ?? ' ';
        if (ind === '*' || ind === '/') continue;
        if (ind === 'D' || ind === 'd') continue; // debugging line
        // Lenient: a copybook indented by six spaces may start its code in column 7.
        start = ind === ' ' || ind === '-' ? 7 : 6;
        end = Math.min(raw.length, 72);
        if (ind === '-' && literal) {
          // Continuation of a literal: the text continues after the first quote on this line.
          const q = raw.indexOf(literal.text[0], 7);
          if (q >= 0) start = q + 1;
        }
      } else {
        const first = raw.search(/\S/);
        if (first >= 0 && raw[first] === '*' && raw[first + 1] !== '>') continue;
      }
      literal = this.#scan(raw.slice(0, end), start, i + 1, literal);
    }
    if (literal) throw new ConfigError('unterminated literal', { file, line: literal.line, column: literal.column });
  }

  /** Splits one line of code into tokens. Returns an open (multi-line) literal, if any. */
  #scan(s: string, from: number, line: number, open: Token | undefined): Token | undefined {
    let i = from;
    if (open) {
      const close = findClose(s, i, open.text[0]);
      if (close < 0) {
        open.text += s.slice(i);
        return open;
      }
      open.text += s.slice(i, close + 1);
      this.tokens.push(open);
      i = close + 1;
    }
    while (i < s.length) {
      const c = s[i];
      if (c === ' ' || c === ',' || c === ';') {
        i++;
        continue;
      }
      if (c === '*' && s[i + 1] === '>') break; // inline comment
      if (c === "'" || c === '"') {
        const close = findClose(s, i + 1, c);
        const tok: Token = {
          text: s.slice(i, close < 0 ? s.length : close + 1),
          upper: '',
          line,
          column: i + 1,
          quoted: true,
        };
        if (close < 0) return tok;
        this.tokens.push(tok);
        i = close + 1;
        continue;
      }
      let j = i;
      while (j < s.length && s[j] !== ' ') j++;
      let word = s.slice(i, j);
      let period = false;
      // A period, comma or semicolon followed by a space or the end of the line is a separator.
      while (word.length > 0 && /[.,;]$/.test(word)) {
        if (word.endsWith('.')) period = true;
        word = word.slice(0, -1);
      }
      if (word.length) this.tokens.push({ text: word, upper: word.toUpperCase(), line, column: i + 1 });
      if (period) this.tokens.push({ text: '.', upper: '.', line, column: i + word.length + 1, period: true });
      i = j;
    }
    return undefined;
  }
}

function findClose(s: string, from: number, q: string): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === q) {
      if (s[i + 1] === q) {
        i++;
        continue;
      }
      return i;
    }
  }
  return -1;
}

/** Fixed format when every non-blank line has only digits or spaces in columns 1–6. */
function detectFixed(lines: string[]): boolean {
  let seen = false;
  for (const l of lines) {
    if (!l.trim()) continue;
    seen = true;
    if (l.length < 7) return false;
    if (!/^[0-9 ]{6}/.test(l)) return false;
  }
  return seen;
}

// ---------------------------------------------------------------------------------------------------------------

export function parsePicture(text: string, loc: { file: string; line: number; column: number }): Picture {
  const fail = (why: string): never => {
    throw new ConfigError(`PICTURE ${text}: ${why}`, loc);
  };
  // Expand repetitions: X(10) -> XXXXXXXXXX
  let s = '';
  const up = text.toUpperCase();
  for (let i = 0; i < up.length; i++) {
    const c = up[i];
    if (c === '(') {
      const close = up.indexOf(')', i);
      if (close < 0) fail('unbalanced parenthesis');
      const n = Number(up.slice(i + 1, close));
      if (!Number.isInteger(n) || n < 1) fail(`bad repetition count '${up.slice(i + 1, close)}'`);
      if (!s.length) fail('repetition without a symbol');
      if (n > 1_000_000) fail('repetition count too large');
      s += s[s.length - 1].repeat(n - 1);
      i = close;
    } else s += c;
  }
  if (!s.length) fail('empty picture');
  if (s.startsWith('CR') || s.startsWith('DB')) fail('CR/DB must be at the end');
  if (/^[XA]+$/.test(s)) return { text, kind: 'alnum', length: s.length, digits: 0, scale: 0, signed: false };
  if (/^S?[9VP]+$/.test(s)) {
    const signed = s[0] === 'S';
    const body = signed ? s.slice(1) : s;
    if ((body.match(/V/g) ?? []).length > 1) fail('more than one V');
    const v = body.indexOf('V');
    const intPart = v < 0 ? body : body.slice(0, v);
    const fracPart = v < 0 ? '' : body.slice(v + 1);
    const digits = (body.match(/9/g) ?? []).length;
    if (digits === 0) fail('no digit positions');
    if (digits > 31) fail(`${digits} digits (at most 31)`);
    let scale = fracPart.length;
    // P: scaling positions. Trailing P in the integer part multiply; leading P (before the digits, or right after V)
    // divide.
    const trailingP = /P+$/.exec(intPart)?.[0].length ?? 0;
    const leadingP = /^P+/.exec(v < 0 ? intPart : fracPart)?.[0].length ?? 0;
    if (/9P+9/.test(body)) fail('P must be at the left or right end of the digits');
    if (v < 0 && leadingP > 0 && trailingP === 0)
      scale = leadingP + digits; // PPP99 = .00099 style
    else if (trailingP > 0) scale = -trailingP;
    return { text, kind: 'numeric', length: digits, digits, scale, signed };
  }
  if (/^[9ZB0/,.+\-*$CRDBVS]+$/.test(s) && /[Z,.+\-*$B0/]|CR$|DB$/.test(s)) {
    return {
      text,
      kind: 'edited',
      length: s.replace(/V/g, '').replace(/^S/, '').length,
      digits: 0,
      scale: 0,
      signed: false,
    };
  }
  if (s.includes('N')) fail('national (PIC N, UTF-16) items are not supported');
  if (s.includes('E')) fail('floating-point (E) pictures are not supported');
  return fail('unsupported picture symbols');
}

/** Bytes of one elementary item. */
export function elementarySize(pic: Picture, usage: Usage, sign?: { separate: boolean }): number {
  if (pic.kind !== 'numeric') return pic.length;
  switch (usage) {
    case 'display':
      return pic.digits + (sign?.separate ? 1 : 0);
    case 'packed':
      return Math.floor(pic.digits / 2) + 1;
    case 'binary':
    case 'native-binary':
      return pic.digits <= 4 ? 2 : pic.digits <= 9 ? 4 : 8;
  }
}

// ---------------------------------------------------------------------------------------------------------------

class Parser {
  #i = 0;
  readonly #t: Token[];
  readonly #file: string;

  constructor(file: string, tokens: Token[]) {
    this.#file = file;
    this.#t = tokens;
  }

  #err(msg: string, tok?: Token): never {
    const t = tok ?? this.#t[Math.min(this.#i, this.#t.length - 1)];
    throw new ConfigError(msg, t ? { file: this.#file, line: t.line, column: t.column } : { file: this.#file });
  }

  #peek(): Token | undefined {
    return this.#t[this.#i];
  }

  #next(what: string): Token {
    const t = this.#t[this.#i];
    if (!t) this.#err(`unexpected end of copybook: expected ${what}`, this.#t[this.#t.length - 1]);
    this.#i++;
    return t;
  }

  #accept(...words: string[]): Token | undefined {
    const t = this.#peek();
    if (t && !t.quoted && words.includes(t.upper)) {
      this.#i++;
      return t;
    }
    return undefined;
  }

  #int(what: string): { n: number; tok: Token } {
    const tok = this.#next(what);
    if (!/^\d+$/.test(tok.text)) this.#err(`expected ${what}, found '${tok.text}'`, tok);
    return { n: Number(tok.text), tok };
  }

  parse(): Item[] {
    const entries: Item[] = [];
    while (this.#i < this.#t.length) {
      const e = this.#entry();
      if (e) entries.push(e);
    }
    return entries;
  }

  /** One data description entry, up to its period; null for 88 levels (skipped). */
  #entry(): Item | null {
    const lt = this.#next('a level number');
    if (lt.period) return null; // stray period
    if (lt.upper === 'COPY' || lt.upper === 'REPLACE')
      this.#err(`${lt.upper} statements are not supported: expand the copybook first`, lt);
    if (lt.upper === 'EXEC') this.#err('EXEC statements are not supported in a record copybook', lt);
    if (!/^\d{1,2}$/.test(lt.text)) this.#err(`expected a level number, found '${lt.text}'`, lt);
    const level = Number(lt.text);
    if (level === 66) this.#err('level 66 (RENAMES) is not supported', lt);
    if (!((level >= 1 && level <= 49) || level === 77 || level === 88))
      this.#err(`invalid level number ${lt.text}`, lt);
    if (level === 88) {
      // Condition names carry no bytes: skip to the period.
      while (this.#i < this.#t.length && !this.#t[this.#i].period) this.#i++;
      this.#i++;
      return null;
    }
    const item: Item = {
      level: level === 77 ? 1 : level,
      name: null,
      line: lt.line,
      column: lt.column,
      children: [],
      usage: 'display',
      redefinedBy: [],
      size: 0,
      variable: false,
    };
    const nt = this.#peek();
    if (nt && !nt.period && !nt.quoted && !KEYWORDS.has(nt.upper)) {
      this.#i++;
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(nt.text) || /^\d+$/.test(nt.text))
        this.#err(`invalid data name '${nt.text}'`, nt);
      item.name = nt.upper === 'FILLER' ? null : nt.text;
      item.line = nt.line;
      item.column = nt.column;
    }
    for (;;) {
      const t = this.#next(`a clause or the period ending level ${lt.text} ${item.name ?? 'FILLER'}`);
      if (t.period) break;
      if (t.quoted) this.#err(`unexpected literal ${t.text}`, t);
      switch (t.upper) {
        case 'REDEFINES':
          item.redefines = this.#next('the redefined item').text;
          break;
        case 'PIC':
        case 'PICTURE': {
          this.#accept('IS');
          const p = this.#next('a picture string');
          if (item.pic) this.#err('two PICTURE clauses', t);
          item.pic = parsePicture(p.text, { file: this.#file, line: p.line, column: p.column });
          break;
        }
        case 'USAGE':
          this.#accept('IS');
          this.#usage(item, this.#next('a usage'));
          break;
        case 'SIGN':
        case 'LEADING':
        case 'TRAILING': {
          if (t.upper === 'SIGN') this.#accept('IS');
          const pos = t.upper === 'SIGN' ? this.#next('LEADING or TRAILING') : t;
          if (pos.upper !== 'LEADING' && pos.upper !== 'TRAILING')
            this.#err(`expected LEADING or TRAILING, found '${pos.text}'`, pos);
          const separate = !!this.#accept('SEPARATE');
          if (separate) this.#accept('CHARACTER');
          item.sign = { leading: pos.upper === 'LEADING', separate };
          item.signSet = true;
          break;
        }
        case 'OCCURS':
          this.#occurs(item, t);
          break;
        case 'VALUE':
        case 'VALUES':
          this.#accept('IS', 'ARE');
          this.#skipLiterals();
          break;
        case 'JUST':
        case 'JUSTIFIED':
          this.#accept('RIGHT');
          item.justifiedRight = true;
          break;
        case 'BLANK':
          this.#accept('WHEN');
          if (!this.#accept('ZERO', 'ZEROS', 'ZEROES')) this.#err('expected BLANK WHEN ZERO');
          break;
        case 'GLOBAL':
        case 'EXTERNAL':
          break;
        case 'SYNC':
        case 'SYNCHRONIZED':
          this.#err(
            'SYNCHRONIZED is not supported (it inserts alignment slack bytes); remove it if the data has none',
            t,
          );
          break;
        case 'RENAMES':
          this.#err('RENAMES is not supported', t);
          break;
        default:
          if (t.upper in USAGES) this.#usage(item, t);
          else
            this.#err(`unknown clause '${t.text}'${item.pic ? '' : ' (missing period after the previous entry?)'}`, t);
      }
    }
    return item;
  }

  #usage(item: Item, t: Token): void {
    const u = USAGES[t.upper];
    if (!u) this.#err(`unknown usage '${t.text}'`, t);
    if (u === 'float') this.#err(`${t.upper} (floating point) is not supported`, t);
    if (u === 'unsupported') this.#err(`USAGE ${t.upper} is not supported`, t);
    item.usage = u as Usage;
    item.usageSet = true;
  }

  #occurs(item: Item, t: Token): void {
    const a = this.#int('the OCCURS count');
    const occ: Occurs = { min: a.n, max: a.n, line: t.line, column: t.column };
    if (this.#accept('TO')) {
      const b = this.#int('the OCCURS maximum');
      occ.max = b.n;
      if (b.n < a.n) this.#err(`OCCURS ${a.n} TO ${b.n}: maximum below minimum`, b.tok);
    }
    this.#accept('TIMES');
    if (this.#accept('DEPENDING')) {
      this.#accept('ON');
      occ.dependingOn = this.#next('the DEPENDING ON item').text;
    } else if (occ.max !== occ.min) this.#err('OCCURS n TO m needs DEPENDING ON', t);
    if (occ.max < 1 && !occ.dependingOn) this.#err('OCCURS count must be at least 1', a.tok);
    for (;;) {
      if (this.#accept('ASCENDING', 'DESCENDING')) {
        this.#accept('KEY');
        this.#accept('IS');
        this.#skipNames();
      } else if (this.#accept('INDEXED')) {
        this.#accept('BY');
        this.#skipNames();
      } else break;
    }
    item.occurs = occ;
  }

  #skipNames(): void {
    for (;;) {
      const t = this.#peek();
      if (
        !t ||
        t.period ||
        t.quoted ||
        KEYWORDS.has(t.upper) ||
        t.upper === 'ASCENDING' ||
        t.upper === 'DESCENDING' ||
        t.upper === 'INDEXED'
      )
        return;
      this.#i++;
    }
  }

  #skipLiterals(): void {
    for (;;) {
      const t = this.#peek();
      if (!t || t.period) return;
      if (!t.quoted && KEYWORDS.has(t.upper) && t.upper !== 'IS') return;
      this.#i++;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface ParseOptions {
  sourceFormat?: SourceFormat;
}

export function parseCopybook(text: string, file: string, opts: ParseOptions = {}): Copybook {
  const lexer = new Lexer(file, text, opts.sourceFormat ?? 'auto');
  const entries = new Parser(file, lexer.tokens).parse();
  if (!entries.length) throw new ConfigError('the copybook holds no data description entries', { file });
  const loc = (it: Item) => ({ file, line: it.line, column: it.column });

  // Build the tree from level numbers.
  const top: Item[] = [];
  const stack: Item[] = [];
  for (const e of entries) {
    while (stack.length && stack[stack.length - 1].level >= e.level) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent) {
      if (parent.pic)
        throw new ConfigError(`${parent.name ?? 'FILLER'} has a PICTURE, so it cannot have subordinate items`, loc(e));
      e.parent = parent;
      parent.children.push(e);
    } else {
      if (top.length && e.level > top[0].level && top[0].level === 1)
        throw new ConfigError(`level ${e.level} item outside any record`, loc(e));
      top.push(e);
    }
    stack.push(e);
  }

  // Usage and sign inheritance, validation, REDEFINES links, sizes.
  const finish = (it: Item, usage: Usage, sign: Item['sign'], siblings: Item[]): void => {
    if (!it.usageSet) it.usage = usage;
    if (!it.sign) it.sign = sign;
    if (it.redefines) {
      const before = siblings.slice(0, siblings.indexOf(it)).filter((s) => !s.redefines);
      const base = before[before.length - 1];
      if (!base || (base.name ?? '').toUpperCase() !== it.redefines.toUpperCase())
        throw new ConfigError(
          `REDEFINES ${it.redefines}: it must name the preceding item at level ${it.level}`,
          loc(it),
        );
      if (base.occurs || it.occurs) {
        // OCCURS on the redefined item is not allowed by COBOL; OCCURS on the redefining one is fine.
        if (base.occurs)
          throw new ConfigError(`REDEFINES ${it.redefines}: the redefined item must not have OCCURS`, loc(it));
      }
      base.redefinedBy.push(it);
    }
    if (it.children.length) {
      if (it.pic) throw new ConfigError('a group item cannot have a PICTURE', loc(it));
      for (const c of it.children) finish(c, it.usage, it.sign, it.children);
      let size = 0;
      let variable = false;
      for (const c of it.children) {
        if (c.redefines) continue;
        let s = c.size;
        for (const r of c.redefinedBy) s = Math.max(s, r.size);
        size += s * (c.occurs ? c.occurs.max : 1);
        if (c.variable || c.occurs?.dependingOn || c.redefinedBy.some((r) => r.variable || r.occurs?.dependingOn))
          variable = true;
      }
      it.size = size;
      it.variable = variable;
    } else {
      if (!it.pic) throw new ConfigError(`${it.name ?? 'FILLER'} has neither a PICTURE nor subordinate items`, loc(it));
      if (it.pic.kind !== 'numeric' && it.usage !== 'display')
        throw new ConfigError(
          `PICTURE ${it.pic.text} is not numeric, so it cannot be ${it.usage === 'packed' ? 'COMP-3' : 'COMP/BINARY'}`,
          loc(it),
        );
      const signApplies = it.pic.kind === 'numeric' && it.pic.signed && it.usage === 'display';
      if (!signApplies) {
        if (it.signSet) throw new ConfigError('SIGN applies to signed DISPLAY numeric items (PIC S9...) only', loc(it));
        it.sign = undefined;
      }
      if (it.pic.kind === 'numeric' && (it.usage === 'binary' || it.usage === 'native-binary') && it.pic.digits > 18)
        throw new ConfigError(`binary items hold at most 18 digits (PICTURE ${it.pic.text})`, loc(it));
      it.size = elementarySize(it.pic, it.usage, it.sign);
    }
    if (it.occurs?.dependingOn) {
      const elementVariable = it.variable;
      if (elementVariable)
        throw new ConfigError('OCCURS DEPENDING ON inside another OCCURS DEPENDING ON table is not supported', loc(it));
    }
  };
  for (const t of top) finish(t, 'display', undefined, top);

  let records: Item[];
  if (top.every((t) => t.level === 1)) records = top.filter((t) => !t.redefines);
  else {
    const root: Item = {
      level: 0,
      name: null,
      line: top[0].line,
      column: top[0].column,
      children: top,
      usage: 'display',
      redefinedBy: [],
      size: 0,
      variable: false,
    };
    for (const t of top) t.parent = root;
    let size = 0;
    for (const c of top) {
      if (c.redefines) continue;
      let s = c.size;
      for (const r of c.redefinedBy) s = Math.max(s, r.size);
      size += s * (c.occurs ? c.occurs.max : 1);
      if (c.variable || c.occurs?.dependingOn) root.variable = true;
    }
    root.size = size;
    records = [root];
  }
  // 01 REDEFINES 01: the redefining records are alternatives of the redefined one.
  for (const t of top) if (t.level === 1 && t.redefines) records.push(t);
  return { file, records };
}
