import { prettyFactory } from "pino-pretty";
import { describe, expect, it } from "vitest";
import { PRETTY_OPTIONS } from "./logger.ts";

describe("pretty logs", () => {
  const pretty = prettyFactory({ ...PRETTY_OPTIONS, colorize: false });
  const line = (o: Record<string, unknown>) => pretty({ level: 30, time: Date.UTC(2026, 0, 1), pid: 1, hostname: "h", proc: "api", name: "api", ...o });

  it("prints a request as one line with its method, path, status and time", () => {
    const out = line({ request_id: "r-1", method: "POST", path: "/api/v1/jobs/7/cancel", status: 202, ms: 3.25, msg: "request" });
    expect(out.trimEnd().split("\n")).toHaveLength(1);
    expect(out).toMatch(/INFO: api: request POST \/api\/v1\/jobs\/7\/cancel 202 3\.25ms \{"request_id":"r-1"\}/);
  });

  it("prints any other event as one line, its fields inline", () => {
    const out = line({ port: 3000, labels: ["linux", "x64"], msg: "api listening" });
    expect(out.trimEnd().split("\n")).toHaveLength(1);
    expect(out).toContain('api: api listening {"port":3000,"labels":["linux","x64"]}');
    expect(out).not.toMatch(/undefined|ms\b/);
  });
});
