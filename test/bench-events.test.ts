import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { postgresGroup } from "../bench/lib/cpu.ts";
import { messageCounter, openStream, splitSse, startReceiver, transitionOf, wallClock, type Listener } from "../bench/lib/listeners.ts";
import { computeTargets } from "../bench/lib/targets.ts";
import type { ScenarioResult } from "../bench/lib/types.ts";
import { waitFor } from "./setup/db.ts";

// The events benchmark's own parts: its listeners count and stamp what arrives, however
// the bytes are chunked, and its target reads the scenario's data.

const message = (id: number, jobId: number, action: string) =>
  `id: ${id}\nevent: workflow_job\ndata: ${JSON.stringify({ action, workflow_job: { id: jobId, name: "a" }, repository: { id: 1 } })}\n\n`;
const STREAM = `${message(1, 7, "in_progress")}: keep-alive\n\n${message(2, 7, "completed")}id: 3\nevent: workflow_run\ndata: {"action":"completed","workflow_run":{"id":9}}\n\n`;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe("counting and parsing stream messages", () => {
  it("counts every message once at every split of the stream into two chunks, comments not counted", () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const count = messageCounter();
      expect(count(STREAM.slice(0, cut)) + count(STREAM.slice(cut)), `cut at ${cut}`).toBe(3);
    }
  });

  it("counts one character at a time", () => {
    const count = messageCounter();
    expect([...STREAM].reduce((n, ch) => n + count(ch), 0)).toBe(3);
  });

  it("splits complete blocks and keeps the rest", () => {
    const p = splitSse(STREAM + "id: 4\nevent: workf");
    expect(p.messages.map((m) => m.event)).toEqual(["workflow_job", "workflow_job", "workflow_run"]);
    expect(p.rest).toBe("id: 4\nevent: workf");
    expect(transitionOf(p.messages[1]!.data)).toBe("7:completed");
    expect(transitionOf(p.messages[2]!.data)).toBeNull();
    expect(transitionOf("{not json")).toBeNull();
  });
});

/** A server answering every GET with `status` and, on 200, STREAM in small writes. */
async function sseServer(status = 200): Promise<string> {
  const server = http.createServer((req, res) => {
    if (status !== 200) return void res.writeHead(status).end("{}");
    res.writeHead(200, { "content-type": "text/event-stream" });
    for (let i = 0; i < STREAM.length; i += 37) res.write(STREAM.slice(i, i + 37));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
}

describe("the listeners", () => {
  it("a stream client counts, and while recording stamps each job transition once", async () => {
    const clock = wallClock();
    const before = clock();
    const s: Listener = await openStream(await sseServer(), "t", clock, { recording: true });
    closers.push(() => s.close());
    await waitFor("three messages", async () => s.count() === 3);
    expect([...s.arrivals.keys()].sort()).toEqual(["7:completed", "7:in_progress"]);
    for (const at of s.arrivals.values()) expect(at).toBeGreaterThanOrEqual(before);
    expect(Math.abs(clock() - Date.now())).toBeLessThan(5);
  });

  it("a stream that is not a 200 is refused", async () => {
    await expect(openStream(await sseServer(404), "t", wallClock())).rejects.toThrow(/answered 404/);
  });

  it("a receiver answers 200, counts every request and records workflow_job payloads only while recording", async () => {
    const r = await startReceiver(wallClock());
    closers.push(() => r.close());
    const post = (event: string, body: string) => fetch(r.url, { method: "POST", headers: { "x-github-event": event, "content-type": "application/json" }, body });
    expect((await post("workflow_job", JSON.stringify({ action: "queued", workflow_job: { id: 5 } }))).status).toBe(200);
    r.recording = true;
    expect((await post("workflow_job", JSON.stringify({ action: "completed", workflow_job: { id: 5 } }))).status).toBe(200);
    expect((await post("workflow_run", JSON.stringify({ action: "completed", workflow_job: { id: 6 } }))).status).toBe(200);
    expect(r.count()).toBe(3);
    expect([...r.arrivals.keys()]).toEqual(["5:completed"]);
  });
});

describe("the CPU groups and the target", () => {
  it("counts Postgres backends of our database and the server's own processes, not other databases'", () => {
    expect(postgresGroup("postgres: 15/main: postgres actions_bench_events_x 127.0.0.1(5) idle", "actions_bench_events_x")).toBe("postgres");
    expect(postgresGroup("postgres: 15/main: postgres actions_readme_1 127.0.0.1(5) idle", "actions_bench_events_x")).toBe("other");
    expect(postgresGroup("postgres: 15/main: walwriter ", "actions_bench_events_x")).toBe("postgres");
  });

  const target = (data: Record<string, unknown> | null) => {
    const results = new Map<string, ScenarioResult>(data ? [["events", { id: "events", title: "events", tables: [], data }]] : []);
    return computeTargets(results).rows.find((r) => r.target.includes("repository streams"))!;
  };
  const fanout = (ratio: number) => ({ fanout: { ratio, fanned: { rps: 100 * ratio }, bare: [{ rps: 100 }, { rps: 100 }] } });

  it("passes at 80% and fails below, and says when the scenario did not run", () => {
    expect(target(fanout(0.8)).verdict).toBe("pass");
    expect(target(fanout(0.79)).verdict).toBe("FAIL");
    expect(target(fanout(0.79)).measured).toBe("79 cancels/s vs 100 and 100 cancels/s without (before and after) = 79%");
    expect(target(null).verdict).toBe("not measured");
  });
});
