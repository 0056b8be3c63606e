import { describe, expect, it } from "vitest";
import { Redis } from "../infra/redis.ts";
import { waitFor } from "./setup/db.ts";
import { SseClient } from "./setup/sse.ts";
import { events, systemSuite } from "./setup/system.ts";
import { pushAndRun } from "./setup/world.ts";

// The live event streams on the whole system as separate processes (api, worker with the
// outbox's dispatcher, a runner-sim fleet) and Redis with its ACL users: the dispatcher's
// events reach a run's stream and the repository's, the run's stream ends with the run, and
// the API's hint subscription is one its Redis user may make (the suite fails on a denial).

const sys = systemSuite("ev-system", { RUNNERS: "1", RUNNER_CAPACITY: "2", RUNNER_NAME_PREFIX: "es" });

const WORKFLOW = `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo building
  test:
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
`;

describe("event streams on the system", () => {
  it("carry a run's dispatched events to its completed event, on its stream and its repository's", async () => {
    const token = sys.world.tokens.carol;
    const repo = await SseClient.open(sys.api, "/api/v1/repos/alice/demo/actions/events", { token });
    expect(repo.status).toBe(200);
    const src = await pushAndRun(sys.db.prisma, "alice/demo", WORKFLOW, "e5e5e501");
    const run = await SseClient.open(sys.api, `/api/v1/runs/${src.run_id}/events`, { token });
    expect(run.status).toBe(200);
    await run.waitDone(30_000);
    expect(run.ended).toBe(true);
    const said = run.messages.map((m) => `${m.event}:${(JSON.parse(m.data) as { action: string }).action}`);
    expect(said[0]).toBe("workflow_run:requested");
    expect(said.at(-1)).toBe("workflow_run:completed");
    // GitHub's order (the dispatcher's): the run completes after its jobs, so its stream has them all.
    expect(said.filter((x) => x === "workflow_job:queued")).toHaveLength(2);
    expect(said.filter((x) => x === "workflow_job:completed")).toHaveLength(2);
    const runOf = (data: string) => {
      const p = JSON.parse(data) as { workflow_run?: { id: number }; workflow_job?: { run_id: number } };
      return p.workflow_run?.id ?? p.workflow_job?.run_id;
    };
    for (const m of run.messages) expect(runOf(m.data)).toBe(src.run_id);
    const ids = run.ids;
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    // The repository's stream opened before the run: the same events in the same order, and
    // (not ending with the run) both jobs' completed events, whenever the dispatcher sends them.
    const jobsDone = () => repo.messages.filter((m) => m.event === "workflow_job" && runOf(m.data) === src.run_id && JSON.parse(m.data).action === "completed");
    await waitFor("both jobs' completed events on the repository's stream", async () => jobsDone().length === 2, 10_000);
    expect(repo.ids.filter((id) => ids.includes(id))).toEqual(ids);
    repo.close();
    expect(events(sys.apiProc).filter((e) => /Redis subscription failed/.test(String(e.msg)))).toEqual([]);
    const admin = new Redis(sys.redisUrl);
    try {
      // The suite's Redis is its own: the one events channel is the API's.
      const [channel] = (await admin.pubsub("CHANNELS", "*:events")) as string[];
      expect(channel).toMatch(/^evsyst.*:events$/);
      expect(await admin.pubsub("NUMSUB", channel!)).toEqual([channel, 1]);
    } finally {
      admin.disconnect();
    }
  });

  it("end when the API stops, which then exits cleanly and in time", async () => {
    const open = await SseClient.open(sys.api, "/api/v1/repos/alice/demo/actions/events", { token: sys.world.tokens.carol });
    expect(open.status).toBe(200);
    const started = Date.now();
    // A phase that runs out of time makes the exit code 1 (infra/shutdown.ts).
    expect(await sys.apiProc.kill("SIGTERM")).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    await open.waitDone();
    expect(open.ended).toBe(true);
  });
});
