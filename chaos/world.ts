import * as ops from "../admin/ops.ts";
import { inTx, type PrismaClient } from "../infra/db.ts";
import { reportJobTx } from "../domain/data/jobs.ts";
import { prismaSql } from "../infra/sql.ts";

// What the load acts on: queued jobs nobody can claim (cancelled at once), jobs the runner
// simulator holds (a cancel must reach their containers), and completed runs to rerun.

export interface WorldSpec {
  /** Queued jobs, each the target of one cancel. */
  queued: number;
  /** `sleep 600` jobs the simulator will hold. */
  long: number;
  /** Jobs of ten one-second steps: their reports keep flowing while a fault hits. */
  steppy: number;
  /** Completed runs that the reruns target. */
  sources: number;
}

export interface World {
  token: string;
  actorId: number;
  queued: number[];
  long: number[];
  steppy: number[];
  sources: number[];
}

const NOBODY = "chaos-nobody";
const BATCH = 25;
let sha = 0;
const nextSha = () => (++sha).toString(16).padStart(8, "0") + Date.now().toString(16);

function workflow(jobs: number, runsOn: string, steps: string[]): string {
  const stepsYaml = steps.map((s) => `      - run: ${s}\n`).join("");
  return "name: chaos\non: push\njobs:\n" + Array.from({ length: jobs }, (_, i) => `  j${i}:\n    runs-on: ${runsOn}\n    steps:\n${stepsYaml}`).join("");
}

async function runs(prisma: PrismaClient, file: string, total: number, runsOn: string, steps: string[]): Promise<number[]> {
  const ids: number[] = [];
  for (let left = total; left > 0; left -= BATCH) {
    const n = Math.min(BATCH, left);
    const r = await ops.createRunFromSource(prisma, { repo: "chaos/repo", workflowFile: `.shithub/workflows/${file}-${n}.yml`, headSha: nextSha(), source: workflow(n, runsOn, steps) });
    ids.push(...r.job_ids);
  }
  return ids;
}

export async function seedWorld(prisma: PrismaClient, spec: WorldSpec): Promise<World> {
  const user = await ops.createUser(prisma, { login: "chaos" });
  await ops.createRepo(prisma, { owner: "chaos", name: "repo" });
  const { token } = await ops.createToken(prisma, { user: "chaos", scopes: ["repo:write"] });
  const queued = await runs(prisma, "queued", spec.queued, NOBODY, ["sleep 600"]);
  const long = await runs(prisma, "long", spec.long, "ubuntu-latest", ["echo start", "sleep 600"]);
  const steppy = await runs(prisma, "steppy", spec.steppy, "ubuntu-latest", Array.from({ length: 10 }, (_, i) => `echo step ${i}; sleep 1`));
  // Reruns of these create jobs no runner claims, so the load does not become a container storm.
  const sources: number[] = [];
  for (let i = 0; i < spec.sources; i++) {
    const r = await ops.createRunFromSource(prisma, { repo: "chaos/repo", workflowFile: ".shithub/workflows/source.yml", headSha: nextSha(), source: workflow(1, NOBODY, ["echo rerun"]) });
    // Ended the way a runner would report it, which completes the run (rerunnable).
    const ended = await inTx(prisma, (tx) => reportJobTx(prismaSql(tx), BigInt(r.job_ids[0]!), { status: "cancelled" }, new Date()));
    if (ended.kind !== "ok" || !ended.runCompleted) throw new Error(`could not complete source run ${r.run_id}: ${JSON.stringify(ended)}`);
    sources.push(r.run_id);
  }
  return { token, actorId: user.id, queued, long, steppy, sources };
}
