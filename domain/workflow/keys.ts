// Which keys of a workflow file we act on, which we accept and ignore (they change
// nothing about what runs), and which we refuse because ignoring them would run
// something other than what the file says (docs/workflows.md, "What is refused").

const IGNORED_TOP = ["on", "env", "permissions", "defaults", "run-name"];
const IGNORED_JOB = ["env", "permissions", "defaults", "environment", "outputs"];
const IGNORED_STEP = ["id", "env", "shell", "working-directory", "timeout-minutes"];

const TOP = new Set(["name", "jobs", "concurrency", ...IGNORED_TOP]);
const JOB = new Set(["name", "runs-on", "needs", "timeout-minutes", "steps", "concurrency", "strategy", ...IGNORED_JOB]);
const STEP = new Set(["name", "run", ...IGNORED_STEP]);

export const IGNORED_KEYS = { workflow: IGNORED_TOP, job: IGNORED_JOB, step: IGNORED_STEP } as const;

/** A refusal, with the path it covers: the schema's own messages under it are then redundant. */
export interface KeyRefusal {
  path: string;
  message: string;
}

const JOB_REASONS: Record<string, string> = {
  uses: "`uses:` (reusable workflows) is not supported; write the job's steps with `run:`",
  if: "`if:` is not supported (the job would run unconditionally)",
  services: "`services:` is not supported (the runners start no service containers)",
  container: "`container:` is not supported (the runners choose the container)",
  "continue-on-error": "`continue-on-error` is not supported (a failed job fails its run)",
};

const STEP_REASONS: Record<string, string> = {
  uses: "`uses:` (actions) is not supported by this forge's runners; use `run:`",
  if: "`if:` is not supported (the step would always run)",
  with: "`with:` is not supported (it only passes inputs to actions)",
  "continue-on-error": "`continue-on-error` is not supported (a failed step fails its job)",
};

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every key outside the subset, named with the job (and step) it is in. */
export function keyRefusals(doc: unknown): KeyRefusal[] {
  if (!isMap(doc)) return [];
  const out: KeyRefusal[] = [];
  for (const k of Object.keys(doc)) {
    if (!TOP.has(k)) out.push({ path: k, message: `workflow: unknown key \`${k}\` (not understood here; see docs/workflows.md)` });
  }
  if (!isMap(doc["jobs"])) return out;
  for (const [job, body] of Object.entries(doc["jobs"])) {
    if (!isMap(body)) continue;
    for (const k of Object.keys(body)) {
      if (JOB.has(k)) continue;
      const why = JOB_REASONS[k] ?? `unknown key \`${k}\` (not understood here; see docs/workflows.md)`;
      out.push({ path: `jobs.${job}.${k === "uses" ? "steps" : k}`, message: `job ${job}: ${why}` });
    }
    if (Array.isArray(body["steps"])) out.push(...stepRefusals(job, body["steps"]));
  }
  return out;
}

function stepRefusals(job: string, steps: unknown[]): KeyRefusal[] {
  const out: KeyRefusal[] = [];
  steps.forEach((step, i) => {
    if (!isMap(step)) return;
    for (const k of Object.keys(step)) {
      if (STEP.has(k)) continue;
      const why = STEP_REASONS[k] ?? `unknown key \`${k}\` (not understood here; see docs/workflows.md)`;
      // A `uses:` step has no `run`: the schema's "a step needs `run`" would only repeat it.
      out.push({ path: `jobs.${job}.steps.${i}${k === "uses" ? "" : `.${k}`}`, message: `step ${i + 1} of job ${job}: ${why}` });
    }
  });
  return out;
}
