/**
 * Locates the first syntax error in a JSON text (RFC 8259). Only used after JSON.parse has failed: V8's messages
 * do not always carry a position ("Unexpected token 'x', ... is not valid JSON"), and rejects must say where.
 * Iterative, so deeply nested input cannot overflow the stack.
 */

export interface JsonSyntaxError {
  /** Index (UTF-16 units) of the offending character in the text, or the text length at unexpected end. */
  index: number;
  message: string;
}

const WS = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const DIGIT = (c: number) => c >= 0x30 && c <= 0x39;
const HEX = (c: number) => DIGIT(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

function what(text: string, i: number): string {
  if (i >= text.length) return 'unexpected end of input';
  const cp = text.codePointAt(i)!;
  const ch = String.fromCodePoint(cp);
  return `unexpected character ${cp < 0x20 ? `U+${cp.toString(16).toUpperCase().padStart(4, '0')}` : JSON.stringify(ch)}`;
}

export function jsonSyntaxError(text: string): JsonSyntaxError | null {
  const n = text.length;
  let i = 0;
  const stack: number[] = []; // 1 = object, 2 = array
  const fail = (index: number, message: string): JsonSyntaxError => ({ index, message });
  const ws = () => {
    while (i < n && WS(text.charCodeAt(i))) i++;
  };
  /** Parses a string at i (a quote); returns an error or null. */
  const str = (): JsonSyntaxError | null => {
    i++;
    for (;;) {
      if (i >= n) return fail(n, 'unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return null;
      }
      if (c < 0x20) return fail(i, 'control character in string (must be escaped)');
      if (c === 0x5c) {
        const e = text.charCodeAt(i + 1);
        if (e === 0x75) {
          for (let k = 2; k < 6; k++)
            if (!HEX(text.charCodeAt(i + k))) return fail(Math.min(i + k, n), 'invalid \\u escape');
          i += 6;
        } else if (
          e === 0x22 ||
          e === 0x5c ||
          e === 0x2f ||
          e === 0x62 ||
          e === 0x66 ||
          e === 0x6e ||
          e === 0x72 ||
          e === 0x74
        )
          i += 2;
        else return fail(i, i + 1 >= n ? 'unterminated string' : 'invalid escape');
      } else i++;
    }
  };
  const num = (): JsonSyntaxError | null => {
    if (text.charCodeAt(i) === 0x2d) i++;
    if (text.charCodeAt(i) === 0x30) i++;
    else if (DIGIT(text.charCodeAt(i))) while (DIGIT(text.charCodeAt(i))) i++;
    else return fail(i, `invalid number: ${what(text, i)}`);
    if (text.charCodeAt(i) === 0x2e) {
      i++;
      if (!DIGIT(text.charCodeAt(i))) return fail(i, `invalid number: ${what(text, i)}`);
      while (DIGIT(text.charCodeAt(i))) i++;
    }
    const e = text.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const s = text.charCodeAt(i);
      if (s === 0x2b || s === 0x2d) i++;
      if (!DIGIT(text.charCodeAt(i))) return fail(i, `invalid number: ${what(text, i)}`);
      while (DIGIT(text.charCodeAt(i))) i++;
    }
    return null;
  };
  /** An object key followed by a colon. */
  const key = (): JsonSyntaxError | null => {
    ws();
    if (text.charCodeAt(i) !== 0x22) return fail(i, `expected a double-quoted property name, ${what(text, i)}`);
    const err = str();
    if (err) return err;
    ws();
    if (text.charCodeAt(i) !== 0x3a) return fail(i, `expected ':' after the property name, ${what(text, i)}`);
    i++;
    return null;
  };

  for (;;) {
    // A value.
    ws();
    const c = text.charCodeAt(i);
    let err: JsonSyntaxError | null = null;
    let open = false;
    if (c === 0x7b) {
      i++;
      ws();
      if (text.charCodeAt(i) === 0x7d) i++;
      else {
        stack.push(1);
        err = key();
        open = true;
      }
    } else if (c === 0x5b) {
      i++;
      ws();
      if (text.charCodeAt(i) === 0x5d) i++;
      else {
        stack.push(2);
        open = true;
      }
    } else if (c === 0x22) err = str();
    else if (c === 0x2d || DIGIT(c)) err = num();
    else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      const lit = c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null';
      for (let k = 0; k < lit.length; k++) {
        if (text.charCodeAt(i + k) !== lit.charCodeAt(k))
          return fail(i + k, `invalid literal (expected ${lit}), ${what(text, i + k)}`);
      }
      i += lit.length;
    } else return fail(i, what(text, i));
    if (err) return err;
    if (open) continue;
    // After a value: close containers or go to the next member.
    for (;;) {
      ws();
      if (stack.length === 0) return i < n ? fail(i, `${what(text, i)} after the JSON value`) : null;
      const d = text.charCodeAt(i);
      const top = stack[stack.length - 1];
      if (d === 0x2c) {
        i++;
        if (top === 1) {
          const e2 = key();
          if (e2) return e2;
        }
        break;
      }
      if ((top === 1 && d === 0x7d) || (top === 2 && d === 0x5d)) {
        i++;
        stack.pop();
        continue;
      }
      return fail(i, `expected ',' or '${top === 1 ? '}' : ']'}', ${what(text, i)}`);
    }
  }
}
