import { createHash } from "node:crypto";
import type pg from "pg";

// Everything a lifecycle request could change. Token bookkeeping (last_used_at) is
// excluded: it records that a request came, not what it did.
const TABLES = ["workflow_runs", "workflow_jobs", "workflow_steps", "lifecycle_intents", "repos", "step_log_chunks", "job_tokens"];

/** A digest of the lifecycle tables, to prove a refused request changed nothing. */
export async function fingerprint(pool: pg.Pool): Promise<string> {
  const h = createHash("sha256");
  for (const t of TABLES) {
    const r = await pool.query(`SELECT to_jsonb(x)::text AS row FROM ${t} x ORDER BY id`);
    h.update(`${t}:${r.rows.map((row: { row: string }) => row.row).join("\n")}`);
  }
  return h.digest("hex");
}
