import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { expandMatrix, expansionSuffix, MAX_MATRIX_JOBS, mentionsMatrix, readMatrix, substitute, type Combination } from "./matrix.ts";
import { keyRefusals } from "./keys.ts";

// The subset of workflow files we understand (docs/workflows.md). Keys that change nothing
// about what runs (env, permissions, …) are accepted and ignored; a key that would make us
// run something other than what the file says (uses, if, services, …) is refused, as is
// any key we do not know (domain/workflow/keys.ts).

export const MAX_SOURCE_BYTES = 512 * 1024;
const JOB_KEY = /^[A-Za-z_][A-Za-z0-9_-]{0,99}$/;

const LABEL = /^[^,\s]{1,100}$/;

/**
 * `concurrency:` (workflow or job): a group name, or `{group, cancel-in-progress}`. The
 * group may use `${{ github.ref }}`, `${{ github.workflow }}`, `${{ github.sha }}` and
 * `${{ github.event_name }}`, substituted when the run is created; nothing else.
 */
const concurrencySchema = z.preprocess(
  // The string form is the group alone; one object schema then gives precise messages.
  (v) => (typeof v === "string" ? { group: v } : v),
  z.strictObject(
    {
      group: z.string({ error: "needs `group` (a string)" }).trim().min(1, "the group is empty").max(400),
      "cancel-in-progress": z.boolean({ error: "`cancel-in-progress` must be true or false" }).optional(),
    },
    { error: (i) => (i.code === "invalid_type" ? "must be a group name or {group, cancel-in-progress}" : undefined) },
  ),
);

const stepSchema = z.looseObject({
  name: z.string().trim().min(1).max(500).optional(),
  run: z.string({ error: "a step needs `run`" }).refine((r) => r.trim() !== "", "`run` is empty"),
});

// Labels are checked after `${{ matrix.… }}` is substituted (docs/workflows.md).
const runsOnSchema = z.union([z.string(), z.array(z.string()).min(1, "no labels").max(20)], { error: "must be a label or a list of labels" });

const strategySchema = z.strictObject({
  matrix: z.unknown().refine((m) => m !== undefined, "`strategy` needs `matrix`"),
  "fail-fast": z.boolean({ error: "`fail-fast` must be true or false" }).optional(),
  "max-parallel": z.number({ error: "`max-parallel` must be a whole number" }).int().min(1).max(MAX_MATRIX_JOBS).optional(),
});

const jobSchema = z.looseObject({
  name: z.string().trim().min(1).max(500).optional(),
  "runs-on": runsOnSchema.optional(),
  needs: z.union([z.string(), z.array(z.string()).max(256)]).optional(),
  "timeout-minutes": z.number().int().min(1).max(4320).optional(),
  steps: z.array(stepSchema).min(1, "a job needs at least one step").max(1000),
  concurrency: concurrencySchema.optional(),
  strategy: strategySchema.optional(),
});

const workflowSchema = z.looseObject({
  name: z.string().trim().min(1).max(500).optional(),
  concurrency: concurrencySchema.optional(),
  jobs: z
    .record(z.string(), jobSchema)
    .refine((jobs) => Object.keys(jobs).length > 0, "no jobs")
    .refine((jobs) => Object.keys(jobs).length <= 256, "more than 256 jobs"),
});

type RawJob = z.infer<typeof jobSchema>;

/** A run holds at most this many jobs once matrices are expanded. */
export const MAX_RUN_JOBS = 1000;

export interface StepSpec {
  name: string;
  run: string;
}

/** A `concurrency:` as written: `group` still holds its `${{ github.… }}` expressions. */
export interface ConcurrencySpec {
  group: string;
  cancelInProgress: boolean;
}

/** One expansion of a `strategy.matrix` job. */
export interface MatrixSpec {
  /** The job's key in the file: what `needs:` names, and what max-parallel and fail-fast count within. */
  key: string;
  values: Combination;
  maxParallel: number | null;
  failFast: boolean;
}

export interface JobSpec {
  /** The key in the file, or for a matrix expansion the key and its values: `build (18, ubuntu)`. */
  key: string;
  name: string;
  runsOn: string;
  /** Keys of the jobs this one waits for (a matrix job's need is every one of its expansions). */
  needs: string[];
  timeoutMinutes: number;
  steps: StepSpec[];
  /** Only present when the job has `concurrency:`. */
  concurrency?: ConcurrencySpec;
  /** Only present for an expansion of `strategy.matrix`. */
  matrix?: MatrixSpec;
}

export interface WorkflowSpec {
  name: string | null;
  jobs: JobSpec[];
  /** Only present when the workflow has `concurrency:`. */
  concurrency?: ConcurrencySpec;
}

export type ParseResult = { ok: true; workflow: WorkflowSpec } | { ok: false; errors: string[] };

export function parseWorkflow(text: string): ParseResult {
  if (Buffer.byteLength(text, "utf8") > MAX_SOURCE_BYTES) return { ok: false, errors: ["file too large"] };
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (e) {
    return { ok: false, errors: [`YAML: ${(e as Error).message.split("\n")[0]}`] };
  }
  // `__proto__` matches JOB_KEY, but zod's record drops it, which would silently lose a job.
  const rawJobs = (doc as { jobs?: unknown } | null)?.jobs;
  if (typeof rawJobs === "object" && rawJobs !== null && Object.hasOwn(rawJobs, "__proto__")) {
    return { ok: false, errors: ["jobs.__proto__: bad job key"] };
  }
  const refused = keyRefusals(doc);
  const parsed = workflowSchema.safeParse(doc);
  if (!parsed.success || refused.length > 0) {
    const covered = (path: string) => refused.some((r) => path === r.path || path.startsWith(`${r.path}.`));
    const issues = parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    return { ok: false, errors: [...refused.map((r) => r.message), ...issues.filter((i) => !covered(i.path)).map((i) => `${i.path || "workflow"}: ${i.message}`)] };
  }
  const raw = Object.entries(parsed.data.jobs);
  const graph = graphErrors(raw.map(([key, j]) => ({ key, needs: needsOf(j) })));
  if (graph.length > 0) return { ok: false, errors: graph };
  const expanded = raw.map(([key, j]) => expandJob(key, j));
  const errors = expanded.flatMap((e) => (e.ok ? [] : e.errors));
  if (parsed.data.concurrency !== undefined) errors.push(...expressionErrors("concurrency", concurrencyOf(parsed.data.concurrency).group));
  if (errors.length > 0) return { ok: false, errors };
  const jobs = linkNeeds(expanded.flatMap((e) => (e.ok ? e.jobs : [])));
  if (jobs.length > MAX_RUN_JOBS) return { ok: false, errors: [`jobs: the matrices give ${jobs.length} jobs; a run has at most ${MAX_RUN_JOBS}`] };
  const workflow: WorkflowSpec = { name: parsed.data.name ?? null, jobs };
  if (parsed.data.concurrency !== undefined) workflow.concurrency = concurrencyOf(parsed.data.concurrency);
  return { ok: true, workflow };
}

const needsOf = (j: RawJob) => (typeof j.needs === "string" ? [j.needs] : [...new Set(j.needs ?? [])]);

/** A need of a matrix job is a need of each of its expansions (GitHub waits for them all). */
function linkNeeds(jobs: JobSpec[]): JobSpec[] {
  const byFileKey = new Map<string, string[]>();
  for (const j of jobs) {
    const k = j.matrix?.key ?? j.key;
    byFileKey.set(k, [...(byFileKey.get(k) ?? []), j.key]);
  }
  return jobs.map((j) => ({ ...j, needs: j.needs.flatMap((n) => byFileKey.get(n) ?? [n]) }));
}

type Expanded = { ok: true; jobs: JobSpec[] } | { ok: false; errors: string[] };

/** The job as it runs: once, or once per matrix combination, its expressions substituted. */
function expandJob(key: string, j: RawJob): Expanded {
  if (j["runs-on"] === undefined) return { ok: false, errors: [`job ${key}: needs \`runs-on\` (the labels a runner must have, e.g. ubuntu-latest)`] };
  if (j.strategy === undefined) return oneJob(key, j, null);
  const where = `jobs.${key}.strategy.matrix`;
  const read = readMatrix(where, j.strategy.matrix);
  if (!read.ok) return read;
  const expansion = expandMatrix(where, read.matrix);
  if (!expansion.ok) return expansion;
  const out: JobSpec[] = [];
  const errors: string[] = [];
  for (const values of expansion.combinations) {
    const matrix: MatrixSpec = { key, values, maxParallel: j.strategy["max-parallel"] ?? null, failFast: j.strategy["fail-fast"] ?? true };
    const one = oneJob(key, j, matrix);
    if (!one.ok) return one;
    const spec = one.jobs[0]!;
    if (out.some((o) => o.key === spec.key)) errors.push(`${where}: two combinations give the same job "${spec.key}"`);
    out.push(spec);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, jobs: out };
}

function oneJob(key: string, j: RawJob, matrix: MatrixSpec | null): Expanded {
  const combo = matrix?.values ?? null;
  const errors: string[] = [];
  const sub = (where: string, text: string) => {
    const r = substitute(where, text, combo);
    if (r.ok) return r.text;
    errors.push(r.error);
    return text;
  };
  const suffix = matrix ? ` ${expansionSuffix(matrix.values)}` : "";
  const written = j.name ?? key;
  const name = matrix && j.name !== undefined && mentionsMatrix(j.name) ? sub(`jobs.${key}.name`, j.name) : `${sub(`jobs.${key}.name`, written)}${suffix}`;
  const labels = (typeof j["runs-on"] === "string" ? [j["runs-on"]] : j["runs-on"]!).map((l) => sub(`jobs.${key}.runs-on`, l).trim());
  for (const l of errors.length > 0 ? [] : labels) if (!LABEL.test(l)) errors.push(`jobs.${key}.runs-on: "${l}" is not a label (1–100 characters, no commas or spaces)`);
  const steps = j.steps.map((s, i) => {
    const run = sub(`jobs.${key}.steps.${i}.run`, s.run);
    return { name: s.name !== undefined ? sub(`jobs.${key}.steps.${i}.name`, s.name) : `Run ${firstLine(run)}`, run };
  });
  const concurrency = j.concurrency !== undefined ? concurrencyOf(j.concurrency, combo) : undefined;
  if (concurrency) errors.push(...expressionErrors(`jobs.${key}.concurrency`, concurrency.group));
  if (errors.length > 0) return { ok: false, errors };
  const spec: JobSpec = {
    key: `${key}${suffix}`, name, runsOn: labels.join(","), needs: needsOf(j), timeoutMinutes: j["timeout-minutes"] ?? 360, steps,
    ...(concurrency ? { concurrency } : {}),
    ...(matrix ? { matrix } : {}),
  };
  return { ok: true, jobs: [spec] };
}

/** A job's group may name its matrix values; they are substituted here, the github.* ones at run creation. */
function concurrencyOf(c: z.infer<typeof concurrencySchema>, combo: Combination | null = null): ConcurrencySpec {
  const group = combo === null ? c.group : c.group.replace(EXPRESSION, (whole, inner: string) => {
    const axis = /^matrix\.(.+)$/.exec(inner.trim())?.[1];
    return axis !== undefined && Object.hasOwn(combo, axis) ? String(combo[axis]) : whole;
  });
  return { group, cancelInProgress: c["cancel-in-progress"] ?? false };
}

/** What a concurrency group may refer to, and where each value comes from on the run. */
export interface GroupContext {
  /** github.ref: the run's head_ref. */
  ref: string;
  /** github.workflow: the run's workflow_name. */
  workflow: string;
  /** github.sha: the run's head_sha. */
  sha: string;
  /** github.event_name: the run's event. */
  event: string;
}

const EXPRESSION = /\$\{\{(.*?)\}\}/gs;
const GROUP_VARIABLES: Record<string, keyof GroupContext> = {
  "github.ref": "ref",
  "github.workflow": "workflow",
  "github.sha": "sha",
  "github.event_name": "event",
};

function expressionErrors(where: string, group: string): string[] {
  const errors: string[] = [];
  for (const m of group.matchAll(EXPRESSION)) {
    if (!Object.hasOwn(GROUP_VARIABLES, m[1]!.trim())) {
      errors.push(`${where}: unsupported expression "${m[0]}" (only github.ref, github.workflow, github.sha and github.event_name)`);
    }
  }
  const rest = group.replace(EXPRESSION, "");
  if (rest.includes("${{")) errors.push(`${where}: unterminated expression "\${{"`);
  return errors;
}

/** The group a run or job is in: its expressions replaced by the run's values. */
export function resolveGroup(group: string, ctx: GroupContext): string {
  return group.replace(EXPRESSION, (_m, expr: string) => ctx[GROUP_VARIABLES[expr.trim()]!]);
}

function firstLine(run: string): string {
  const line = run.trim().split("\n")[0] ?? "";
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

function graphErrors(jobs: { key: string; needs: string[] }[]): string[] {
  const errors: string[] = [];
  const keys = new Set(jobs.map((j) => j.key));
  for (const j of jobs) {
    if (!JOB_KEY.test(j.key)) errors.push(`jobs.${j.key}: bad job key`);
    for (const n of j.needs) {
      if (!keys.has(n)) errors.push(`jobs.${j.key}.needs: unknown job "${n}"`);
      else if (n === j.key) errors.push(`jobs.${j.key}.needs: a job cannot need itself`);
    }
  }
  if (errors.length === 0) {
    const cycle = findCycle(jobs);
    if (cycle) errors.push(`jobs: dependency cycle ${cycle.join(" -> ")}`);
  }
  return errors;
}

function findCycle(jobs: { key: string; needs: string[] }[]): string[] | null {
  const needs = new Map(jobs.map((j) => [j.key, j.needs]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (k: string): string[] | null => {
    if (state.get(k) === "done") return null;
    if (state.get(k) === "visiting") return [...path.slice(path.indexOf(k)), k];
    state.set(k, "visiting");
    path.push(k);
    for (const n of needs.get(k) ?? []) {
      const c = visit(n);
      if (c) return c;
    }
    path.pop();
    state.set(k, "done");
    return null;
  };
  for (const j of jobs) {
    const c = visit(j.key);
    if (c) return c;
  }
  return null;
}
