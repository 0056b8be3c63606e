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

describe("a logger whose reader is gone", () => {
  it("lets the process exit instead of retrying the write for ever (EPIPE at the exit flush)", async () => {
    const { spawn } = await import("node:child_process");
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = mkdtempSync(path.join(os.tmpdir(), "logger-epipe-"));
    const script = path.join(dir, "child.ts");
    const logger = new URL("./logger.ts", import.meta.url).pathname;
    const deps = new URL("./deps.ts", import.meta.url).pathname;
    // As a process stopping does: logs once the parent has closed its end of the pipe and
    // exits in the same tick, so pino's flush at exit is the first write to meet EPIPE.
    writeFileSync(script, `import { createLogger } from ${JSON.stringify(logger)};\nimport { failClearly } from ${JSON.stringify(deps)};\nfailClearly("t");\nconst log = createLogger("t", { pretty: false });\nsetTimeout(() => { log.info("after the reader left"); log.info("and again"); process.exit(0); }, 300);\n`);
    try {
      const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "ignore"] });
      await new Promise((r) => child.once("spawn", r));
      child.stdout!.destroy();
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      const late = new Promise<"hung">((r) => setTimeout(() => r("hung"), 20_000).unref());
      const outcome = await Promise.race([exited, late]);
      if (outcome === "hung") child.kill("SIGKILL");
      expect(outcome).not.toBe("hung");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
