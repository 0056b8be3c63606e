import { describe, expect, it } from "vitest";
import { orderBatch, type Orderable } from "./order.ts";

const ev = (seq: number, tx: number, type: Orderable["type"], action: string, status: string | null = null): Orderable & { name: string } =>
  ({ seq: BigInt(seq), tx: BigInt(tx), type, action, status, name: `${type}.${action}${status === "skipped" ? "(skipped)" : ""}@${seq}` });
const names = (es: { name: string }[]) => es.map((e) => e.name);

describe("orderBatch", () => {
  it("a new run: requested before its jobs queue, whatever order the statement wrote them", () => {
    const batch = [ev(1, 10, "workflow_job", "queued"), ev(2, 10, "workflow_job", "queued"), ev(3, 10, "workflow_run", "requested")];
    expect(names(orderBatch(batch))).toEqual(["workflow_run.requested@3", "workflow_job.queued@1", "workflow_job.queued@2"]);
  });

  it("a failure: the failed job, then the jobs it skips, then the run's completion", () => {
    const batch = [ev(5, 11, "workflow_job", "completed", "skipped"), ev(6, 11, "workflow_run", "completed", "completed"), ev(7, 11, "workflow_job", "completed", "completed")];
    expect(names(orderBatch(batch))).toEqual(["workflow_job.completed@7", "workflow_job.completed(skipped)@5", "workflow_run.completed@6"]);
  });

  it("a start: the job before its run", () => {
    const batch = [ev(8, 12, "workflow_run", "in_progress", "running"), ev(9, 12, "workflow_job", "in_progress", "running")];
    expect(names(orderBatch(batch))).toEqual(["workflow_job.in_progress@9", "workflow_run.in_progress@8"]);
  });

  it("transactions keep the order they were written in; an intent's record comes after its changes", () => {
    const batch = [ev(1, 20, "workflow_job", "completed", "cancelled"), ev(2, 20, "intent", "cancel_job"), ev(3, 21, "workflow_run", "requested"), ev(4, 20, "workflow_run", "completed")];
    expect(names(orderBatch(batch))).toEqual(["workflow_job.completed@1", "workflow_run.completed@4", "intent.cancel_job@2", "workflow_run.requested@3"]);
  });
});
