// SQL composition: one small tool instead of positional-parameter arithmetic.
//
//   sql`UPDATE t SET a = ${a}::text WHERE id = ANY(${ids}::bigint[]) AND ${cond}`
//
// is a fragment: the template's strings and what was interpolated. An interpolated
// fragment (`cond`) is spliced in; anything else is one parameter. Rendering numbers the
// parameters $1, $2, … in the order they appear, so no statement knows where its
// parameters start, and pieces can be joined into one statement (a cancel's writes with
// an intent's record) without renumbering by hand. Arrays are one parameter each (never
// expanded); casts stay in the SQL text, as the drivers bind parameters as text
// (docs/architecture.md, "SQL on the hot paths").
//
// Named statements (infra/sql.ts) are keyed by their text, so the same shape must render
// the identical text: it does, since the text depends only on the templates' strings and
// on which slots hold fragments, never on the parameters' values. The rendered text is
// also kept per shape and handed out as the same string object, so the hot path neither
// concatenates nor re-hashes a kilobyte of text per call.

export class Fragment {
  constructor(readonly strings: readonly string[], readonly values: readonly unknown[]) {
    if (strings.length !== values.length + 1) throw new Error("a fragment has one more string than values");
  }
}

export interface Rendered {
  text: string;
  values: unknown[];
}

function fragment(strings: TemplateStringsArray, ...values: unknown[]): Fragment {
  return new Fragment(strings, values);
}

/**
 * Trusted SQL text, spliced in verbatim: only for identifiers and keywords written in the
 * code (a column name from a fixed table), never for anything a request or a row carries.
 */
function raw(text: string): Fragment {
  return new Fragment([text], []);
}

/** The fragments in order with `separator` (trusted text, as raw) between them. */
function join(parts: readonly Fragment[], separator = ", "): Fragment {
  if (parts.length === 0) return raw("");
  return new Fragment(["", ...parts.slice(1).map(() => separator), ""], parts);
}

export const sql = Object.assign(fragment, { raw, join });

// A shape is the fragments' strings in traversal order, with a marker for each parameter.
const PARAM = Symbol("param");
type Token = readonly string[] | typeof PARAM;

function collect(f: Fragment, values: unknown[], shape: Token[]): void {
  shape.push(f.strings);
  for (const v of f.values) {
    if (v instanceof Fragment) collect(v, values, shape);
    else {
      values.push(v);
      shape.push(PARAM);
    }
  }
}

function build(f: Fragment, n: { next: number }): string {
  let text = f.strings[0]!;
  f.values.forEach((v, i) => {
    text += (v instanceof Fragment ? build(v, n) : `$${++n.next}`) + f.strings[i + 1]!;
  });
  return text;
}

// A template's strings array is the same object at every call of its site; raw and join
// strings are fresh, so they compare by content.
const isTemplate = (s: readonly string[]) => Object.prototype.hasOwnProperty.call(s, "raw");
function sameToken(a: Token, b: Token): boolean {
  if (a === b) return true;
  if (a === PARAM || b === PARAM || isTemplate(a) || isTemplate(b) || a.length !== b.length) return false;
  return a.every((s, i) => s === b[i]);
}
const sameShape = (a: readonly Token[], b: readonly Token[]) => a.length === b.length && a.every((t, i) => sameToken(t, b[i]!));

/** Rendered texts by the root template, one per shape seen; bounded so a dynamic filter cannot grow it without end. */
const texts = new WeakMap<readonly string[], { shape: Token[]; text: string }[]>();
const SHAPES_PER_ROOT = 32;

/** The statement: its text with $1…$n in order of appearance, and the values they bind. */
export function render(f: Fragment): Rendered {
  const values: unknown[] = [];
  const shape: Token[] = [];
  collect(f, values, shape);
  if (!isTemplate(f.strings)) return { text: build(f, { next: 0 }), values };
  let seen = texts.get(f.strings);
  if (seen === undefined) texts.set(f.strings, (seen = []));
  const hit = seen.find((s) => sameShape(s.shape, shape));
  if (hit) return { text: hit.text, values };
  const text = build(f, { next: 0 });
  if (seen.length < SHAPES_PER_ROOT) seen.push({ shape, text });
  return { text, values };
}
