import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import express from "express";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { requestContext } from "./app.ts";
import { requestLevel, type RequestFacts } from "./request-log.ts";

describe("requestLevel", () => {
  const cases: [RequestFacts, "debug" | "info"][] = [
    [{ method: "POST", path: "/api/v1/runners/heartbeat", status: 204 }, "debug"],
    // A heartbeat that hands out a job is an event.
    [{ method: "POST", path: "/api/v1/runners/heartbeat", status: 200 }, "info"],
    // A refused one (a revoked runner, a bad body) is worth a line.
    [{ method: "POST", path: "/api/v1/runners/heartbeat", status: 401 }, "info"],
    [{ method: "POST", path: "/api/v1/jobs/12/cancel-check", status: 200 }, "debug"],
    [{ method: "POST", path: "/api/v1/jobs/12/cancel-check", status: 401 }, "info"],
    [{ method: "GET", path: "/healthz", status: 200 }, "debug"],
    [{ method: "GET", path: "/readyz", status: 200 }, "debug"],
    [{ method: "GET", path: "/readyz", status: 503 }, "info"],
    [{ method: "GET", path: "/metrics", status: 200 }, "debug"],
    [{ method: "POST", path: "/api/v1/jobs/12/cancel", status: 202 }, "info"],
    [{ method: "POST", path: "/api/v1/jobs/12/logs", status: 200 }, "info"],
    [{ method: "GET", path: "/api/v1/runners/heartbeat", status: 204 }, "info"],
    [{ method: "POST", path: "/api/v1/jobs/x/cancel-check", status: 200 }, "info"],
  ];
  it.each(cases)("%j logs at %s", (facts, level) => {
    expect(requestLevel(facts)).toBe(level);
  });
});

describe("requestContext", () => {
  it("logs a runner's empty heartbeat at debug and a cancel at info", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const app = express();
    app.use(requestContext(pino({ level: "debug" }, sink)));
    app.post("/api/v1/runners/heartbeat", (_req, res) => void res.status(204).end());
    app.post("/api/v1/jobs/:id/cancel", (_req, res) => void res.status(202).json({}));
    const server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/api/v1/runners/heartbeat`, { method: "POST" })).status).toBe(204);
      expect((await fetch(`${base}/api/v1/jobs/7/cancel`, { method: "POST" })).status).toBe(202);
    } finally {
      await new Promise((r) => server.close(r));
    }
    const requests = lines.filter((l) => l.msg === "request").map((l) => [l.level, l.method, l.path, l.status]);
    // pino's numbers: 20 debug, 30 info.
    expect(requests).toEqual([
      [20, "POST", "/api/v1/runners/heartbeat", 204],
      [30, "POST", "/api/v1/jobs/7/cancel", 202],
    ]);
  });
});
