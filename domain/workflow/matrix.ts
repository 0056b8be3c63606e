// `strategy.matrix` the way GitHub expands it, for the subset docs/workflows.md describes:
// axes of scalar lists, `include`, `exclude`; and the `${{ matrix.<axis> }}` expressions
// substituted into a job's name, runs-on and steps. Pure: plain data in, plain data out.

export type Scalar = string | number | boolean;
export type Combination = Record<string, Scalar>;

/** GitHub's limit: a matrix generates at most 256 jobs per run. */
export const MAX_MATRIX_JOBS = 256;
const AXIS = /^[A-Za-z_][A-Za-z0-9_-]{0,99}$/;
const RESERVED = new Set(["include", "exclude"]);

export interface MatrixInput {
  axes: [string, Scalar[]][];
  include: Combination[];
  exclude: Combination[];
}

export type Expansion = { ok: true; combinations: Combination[] } | { ok: false; errors: string[] };

const isScalar = (v: unknown): v is Scalar => typeof v === "string" || (typeof v === "number" && Number.isFinite(v)) || typeof v === "boolean";

/** Reads `strategy.matrix` as written; every problem is named with `where`. */
export function readMatrix(where: string, raw: unknown): { ok: true; matrix: MatrixInput } | { ok: false; errors: string[] } {
  if (typeof raw === "string") return { ok: false, errors: [`${where}: a matrix from an expression (${raw}) is not supported; write the axes as lists`] };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, errors: [`${where}: must be a mapping of axes to lists`] };
  const errors: string[] = [];
  const axes: [string, Scalar[]][] = [];
  for (const [name, values] of Object.entries(raw)) {
    if (RESERVED.has(name)) continue;
    if (!AXIS.test(name)) errors.push(`${where}.${name}: bad axis name`);
    else if (!Array.isArray(values) || values.length === 0) errors.push(`${where}.${name}: an axis must be a non-empty list`);
    else if (!values.every(isScalar)) errors.push(`${where}.${name}: axis values must be strings, numbers or booleans`);
    else if (values.some((v) => String(v).includes("${{"))) errors.push(`${where}.${name}: axis values cannot hold expressions`);
    else axes.push([name, values]);
  }
  const include = combinationList(`${where}.include`, (raw as Record<string, unknown>)["include"], errors);
  const exclude = combinationList(`${where}.exclude`, (raw as Record<string, unknown>)["exclude"], errors);
  if (errors.length === 0 && axes.length === 0 && include.length === 0) errors.push(`${where}: needs at least one axis or an \`include\``);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, matrix: { axes, include, exclude } };
}

function combinationList(where: string, raw: unknown, errors: string[]): Combination[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    errors.push(`${where}: must be a list of mappings`);
    return [];
  }
  const out: Combination[] = [];
  raw.forEach((c: unknown, i) => {
    const ok = typeof c === "object" && c !== null && !Array.isArray(c) && Object.keys(c).length > 0 &&
      Object.entries(c).every(([k, v]) => AXIS.test(k) && isScalar(v) && !String(v).includes("${{"));
    if (ok) out.push(c as Combination);
    else errors.push(`${where}.${i}: must map axis names to strings, numbers or booleans`);
  });
  return out;
}

/**
 * GitHub's order of operations: the product of the axes (first axis outermost), minus
 * every combination an `exclude` entry matches on all its keys; then each `include`
 * entry is added to every combination whose original values it does not overwrite, or,
 * fitting none, becomes a combination of its own.
 */
export function expandMatrix(where: string, m: MatrixInput): Expansion {
  const size = m.axes.reduce((n, [, vs]) => n * vs.length, m.axes.length === 0 ? 0 : 1);
  // Refused before the product is built, so a hostile file cannot make us allocate it.
  if (size > MAX_MATRIX_JOBS * 16) return { ok: false, errors: [tooMany(where, size)] };
  let combos: { original: Combination; all: Combination }[] = [];
  if (m.axes.length > 0) {
    let product: Combination[] = [{}];
    for (const [name, values] of m.axes) product = product.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
    combos = product
      .filter((c) => !m.exclude.some((x) => Object.entries(x).every(([k, v]) => c[k] === v)))
      .map((c) => ({ original: c, all: { ...c } }));
  }
  for (const inc of m.include) {
    let fitted = false;
    for (const c of combos) {
      if (Object.entries(inc).every(([k, v]) => !Object.hasOwn(c.original, k) || c.original[k] === v)) {
        Object.assign(c.all, inc);
        fitted = true;
      }
    }
    if (!fitted) combos.push({ original: { ...inc }, all: { ...inc } });
  }
  if (combos.length === 0) return { ok: false, errors: [`${where}: the matrix gives no jobs (every combination is excluded)`] };
  if (combos.length > MAX_MATRIX_JOBS) return { ok: false, errors: [tooMany(where, combos.length)] };
  return { ok: true, combinations: combos.map((c) => c.all) };
}

const tooMany = (where: string, n: number) => `${where}: the matrix gives ${n} jobs; at most ${MAX_MATRIX_JOBS} are allowed`;

/** `build (18, ubuntu)`: GitHub's name of one expansion, from the combination's values in order. */
export function expansionSuffix(c: Combination): string {
  return `(${Object.values(c).map(String).join(", ")})`;
}

const EXPRESSION = /\$\{\{(.*?)\}\}/gs;
const MATRIX_REF = /^matrix\.([A-Za-z_][A-Za-z0-9_-]*)$/;

/** Does this text use `${{ matrix.… }}`? (A job name that does is not suffixed.) */
export const mentionsMatrix = (text: string) => [...text.matchAll(EXPRESSION)].some((m) => MATRIX_REF.test(m[1]!.trim()));

/**
 * Replaces `${{ matrix.<axis> }}` with the combination's value (null outside a matrix).
 * Any other expression, or an axis the combination lacks, is an error: we never run a
 * step with an expression left in it.
 */
export function substitute(where: string, text: string, combo: Combination | null): { ok: true; text: string } | { ok: false; error: string } {
  let error: string | null = null;
  const out = text.replace(EXPRESSION, (whole, inner: string) => {
    const ref = MATRIX_REF.exec(inner.trim());
    if (error === null) {
      if (!ref) error = `${where}: unsupported expression "${whole}" (only \${{ matrix.<axis> }} is understood here)`;
      else if (combo === null) error = `${where}: "${whole}" used in a job without \`strategy.matrix\``;
      else if (!Object.hasOwn(combo, ref[1]!)) error = `${where}: "${whole}": the matrix has no axis \`${ref[1]}\``;
    }
    return ref && combo && Object.hasOwn(combo, ref[1]!) ? String(combo[ref[1]!]) : whole;
  });
  if (error === null && text.replace(EXPRESSION, "").includes("${{")) {
    error = `${where}: unterminated expression "\${{"`;
  }
  return error === null ? { ok: true, text: out } : { ok: false, error };
}
