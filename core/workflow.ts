import { parse as parseYaml } from "yaml";
import { z } from "zod";

// The subset of workflow files we understand (DESIGN.md §7). Keys GitHub allows but we
// do not act on (env, permissions, if, …) are accepted and ignored, so real files load.

export const MAX_SOURCE_BYTES = 512 * 1024;
const JOB_KEY = /^[A-Za-z_][A-Za-z0-9_-]{0,99}$/;

const label = z.string().trim().min(1).max(100).regex(/^[^,\s]+$/, "labels cannot contain commas or spaces");

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

const jobSchema = z.looseObject({
  name: z.string().trim().min(1).max(500).optional(),
  "runs-on": z.union([label, z.array(label).max(20)]).optional(),
  needs: z.union([z.string(), z.array(z.string()).max(256)]).optional(),
  "timeout-minutes": z.number().int().min(1).max(4320).optional(),
  steps: z.array(stepSchema).min(1, "a job needs at least one step").max(1000),
  concurrency: concurrencySchema.optional(),
});

const workflowSchema = z.looseObject({
  name: z.string().trim().min(1).max(500).optional(),
  concurrency: concurrencySchema.optional(),
  jobs: z
    .record(z.string(), jobSchema)
    .refine((jobs) => Object.keys(jobs).length > 0, "no jobs")
    .refine((jobs) => Object.keys(jobs).length <= 256, "more than 256 jobs"),
});

export interface StepSpec {
  name: string;
  run: string;
}

/** A `concurrency:` as written: `group` still holds its `${{ … }}` expressions. */
export interface ConcurrencySpec {
  group: string;
  cancelInProgress: boolean;
}

export interface JobSpec {
  key: string;
  name: string;
  runsOn: string;
  needs: string[];
  timeoutMinutes: number;
  steps: StepSpec[];
  /** Only present when the job has `concurrency:`. */
  concurrency?: ConcurrencySpec;
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
  const parsed = workflowSchema.safeParse(doc);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => `${i.path.join(".") || "workflow"}: ${i.message}`) };
  }
  const jobs = Object.entries(parsed.data.jobs).map(([key, j]): JobSpec => ({
    key,
    name: j.name ?? key,
    runsOn: typeof j["runs-on"] === "string" ? j["runs-on"] : (j["runs-on"] ?? []).join(","),
    needs: typeof j.needs === "string" ? [j.needs] : [...new Set(j.needs ?? [])],
    timeoutMinutes: j["timeout-minutes"] ?? 360,
    steps: j.steps.map((s) => ({ name: s.name ?? `Run ${firstLine(s.run)}`, run: s.run })),
    ...(j.concurrency !== undefined ? { concurrency: concurrencyOf(j.concurrency) } : {}),
  }));
  const errors = [
    ...graphErrors(jobs),
    ...(parsed.data.concurrency !== undefined ? expressionErrors("concurrency", concurrencyOf(parsed.data.concurrency).group) : []),
    ...jobs.flatMap((j) => (j.concurrency ? expressionErrors(`jobs.${j.key}.concurrency`, j.concurrency.group) : [])),
  ];
  if (errors.length > 0) return { ok: false, errors };
  const workflow: WorkflowSpec = { name: parsed.data.name ?? null, jobs };
  if (parsed.data.concurrency !== undefined) workflow.concurrency = concurrencyOf(parsed.data.concurrency);
  return { ok: true, workflow };
}

function concurrencyOf(c: z.infer<typeof concurrencySchema>): ConcurrencySpec {
  return { group: c.group, cancelInProgress: c["cancel-in-progress"] ?? false };
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

function graphErrors(jobs: JobSpec[]): string[] {
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

function findCycle(jobs: JobSpec[]): string[] | null {
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
