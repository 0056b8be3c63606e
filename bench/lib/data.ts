import pg from "pg";

// Bulk fixtures in plain SQL: creating thousands of runs through the service would take
// longer than the measurements. Rows look exactly like the ones the service writes
// (same columns, same triggers fire), so the statements under test see real data.

export const BENCH_WORKFLOW_FILE = ".shithub/workflows/bench.yml";
export const BENCH_SHA = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
/** The rerun scenario's workflow: 5 jobs × 3 steps, the later jobs needing the first. */
export const WORKFLOW_5x3 = `name: Bench
on: push
jobs:
${["a", "b", "c", "d", "e"].map((k, i) => `  ${k}:
    runs-on: ubuntu-latest${i === 0 ? "" : "\n    needs: [a]"}
    steps:
      - run: echo one
      - run: echo two
      - run: echo three
`).join("")}`;

export async function withPg<T>(dbUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface SeedOptions {
  repoId: bigint;
  runs: number;
  jobsPerRun: number;
  stepsPerJob: number;
  /** queued: every job waits for a runner; completed: every job succeeded (rerunnable runs). */
  state: "queued" | "completed";
  /** first (default): every job but the first needs it, as in WORKFLOW_5x3; none: independent jobs, as a matrix's. */
  needs?: "first" | "none";
}

/** Inserts runs with their jobs and steps in one statement per batch; returns the job ids (in order). */
export async function seedRuns(c: pg.Client, o: SeedOptions, wantIds = true): Promise<{ runIds: number[]; jobIds: number[] }> {
  const runIds: number[] = [];
  const jobIds: number[] = [];
  const BATCH = 20_000;
  const done = o.state === "completed";
  for (let left = o.runs; left > 0; left -= BATCH) {
    const n = Math.min(BATCH, left);
    const { rows } = await c.query<{ first: string }>(
      `UPDATE repos SET next_run_index = next_run_index + $2 WHERE id = $1 RETURNING next_run_index - $2 AS first`, [o.repoId, n]);
    const first = Number(rows[0]!.first);
    const res = await c.query<{ run_id: string; job_id: string }>(`
      WITH r AS (
        INSERT INTO workflow_runs (repo_id, run_index, workflow_file, workflow_name, head_sha, head_ref, event, status, conclusion, started_at, completed_at)
        SELECT $1, $2 + g, $3, 'Bench', $4, 'refs/heads/main', 'push',
               ${done ? "'completed', 'success', now(), now()" : "'queued', NULL, NULL, NULL"}
        FROM generate_series(0, $5 - 1) g
        RETURNING id
      ), j AS (
        INSERT INTO workflow_jobs (run_id, job_index, job_key, name, runs_on, needs, status, conclusion, started_at, completed_at)
        SELECT r.id, k, chr(97 + k), chr(97 + k), 'ubuntu-latest', CASE WHEN k = 0 OR ${o.needs === "none"} THEN '{}'::text[] ELSE '{a}'::text[] END,
               ${done ? "'completed', 'success', now(), now()" : "'queued', NULL, NULL, NULL"}
        FROM r, generate_series(0, $6 - 1) k
        RETURNING id, run_id
      ), s AS (
        INSERT INTO workflow_steps (job_id, step_index, name, run, status, conclusion, started_at, completed_at)
        SELECT j.id, i, 'step ' || i, 'echo ' || i, ${done ? "'completed', 'success', now(), now()" : "'queued', NULL, NULL, NULL"}
        FROM j, generate_series(0, $7 - 1) i
      )
      SELECT run_id::text, id::text AS job_id FROM j ${wantIds ? "" : "LIMIT 0"}`,
      [o.repoId, first, BENCH_WORKFLOW_FILE, BENCH_SHA, n, o.jobsPerRun, o.stepsPerJob]);
    if (wantIds) {
      const runs = new Set<number>();
      const sorted = res.rows.map((r) => [Number(r.run_id), Number(r.job_id)] as const).sort((a, b) => a[1] - b[1]);
      for (const [runId, jobId] of sorted) {
        jobIds.push(jobId);
        if (!runs.has(runId)) {
          runs.add(runId);
          runIds.push(runId);
        }
      }
    }
  }
  return { runIds, jobIds };
}

/** Stores the workflow file the seeded runs claim to come from (reruns read it). */
export async function seedWorkflowSource(c: pg.Client, repoId: bigint, content = WORKFLOW_5x3): Promise<void> {
  await c.query(
    `INSERT INTO workflow_sources (repo_id, path, head_sha, content) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [repoId, BENCH_WORKFLOW_FILE, BENCH_SHA, content]);
}
