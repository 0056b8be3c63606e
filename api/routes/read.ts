import { Router, type Response } from "express";
import type { PrismaClient } from "../../core/db.ts";
import { repoAccess } from "../../core/data/access.ts";
import { parseId } from "../../core/ids.ts";
import { authenticate, requireScope, tokenOf, type AuthDeps } from "../auth.ts";
import { notFound } from "../errors.ts";
import { jobView, runView, stepView } from "../views.ts";

export interface ReadDeps extends AuthDeps {
  prisma: PrismaClient;
}

const JOB_SELECT = {
  id: true, runId: true, jobKey: true, name: true, runsOn: true, needs: true, status: true, conclusion: true,
  cancelRequested: true, cancelRequestedAt: true, runnerId: true, startedAt: true, completedAt: true, reused: true,
  cancelReason: true, cancelRequestedTokenId: true, cancelRequester: { select: { id: true, login: true } },
} as const;

async function visible(deps: ReadDeps, res: Response, repoId: bigint | undefined, what: string): Promise<void> {
  if (repoId === undefined || (await repoAccess(deps.sql, tokenOf(res), repoId)) === "none") throw notFound(what);
}

export function readRoutes(deps: ReadDeps): Router {
  const r = Router();
  const guard = [authenticate(deps), requireScope("repo:read")];

  r.get("/api/v1/runs/:id", ...guard, async (req, res) => {
    const id = parseId(req.params.id);
    const run = id === null ? null : (await deps.prisma.workflowRun.findUnique({
      where: { id },
      include: { actor: { select: { id: true, login: true } }, jobs: { select: JOB_SELECT, orderBy: { jobIndex: "asc" } } },
    }));
    await visible(deps, res, run ? run.repoId : undefined, "run");
    res.json(runView(run!, run!.jobs));
  });

  r.get("/api/v1/jobs/:id", ...guard, async (req, res) => {
    const id = parseId(req.params.id);
    const job = id === null ? null : (await deps.prisma.workflowJob.findUnique({
      where: { id },
      select: { ...JOB_SELECT, run: { select: { repoId: true } }, steps: { orderBy: { stepIndex: "asc" } } },
    }));
    await visible(deps, res, job ? job.run.repoId : undefined, "job");
    res.json({ ...jobView(job!), steps: job!.steps.map(stepView) });
  });

  r.get("/api/v1/jobs/:id/logs", ...guard, async (req, res) => {
    const id = parseId(req.params.id);
    const job = id === null ? null : (await deps.prisma.workflowJob.findUnique({
      where: { id },
      select: {
        run: { select: { repoId: true } },
        steps: {
          orderBy: { stepIndex: "asc" },
          select: { name: true, logs: { orderBy: { seq: "asc" }, select: { content: true } } },
        },
      },
    }));
    await visible(deps, res, job ? job.run.repoId : undefined, "job");
    const text = job!.steps
      .map((s) => `##[group]${s.name}\n${s.logs.map((l) => (l.content.endsWith("\n") ? l.content : `${l.content}\n`)).join("")}##[endgroup]\n`)
      .join("");
    res.type("text/plain; charset=utf-8").send(text);
  });
  return r;
}
