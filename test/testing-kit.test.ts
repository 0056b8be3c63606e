import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { startSystem, waitFor, type Service, type System } from "../testing/index.ts";
import { queueKeys } from "../testing/cleanup.ts";

// The test kit (testing/README.md): its example as a user writes it, then what stop()
// leaves behind, failures that name their cause, the containers path, and the kit
// imported from a project outside this checkout.

// This repository's run has its Postgres and Redis from global setup; a user's CI sets
// these two (or leaves them unset, and the kit starts containers).
beforeAll(() => {
  vi.stubEnv("DATABASE_URL", inject("serverUrl"));
  vi.stubEnv("REDIS_URL", inject("redisUrl"));
});
afterAll(() => vi.unstubAllEnvs());

describe("the README's example", () => {
  let sys: System;
  beforeAll(async () => { sys = await startSystem(); }, 120_000);
  afterAll(() => sys?.stop());

  it("cancels a running job", async () => {
    await sys.admin("user create", "--login", "alice");
    await sys.admin("repo create", "--owner", "alice", "--name", "app");
    const { token } = await sys.admin.json("token create", "--user", "alice", "--scopes", "repo:write");
    const wf = sys.tempFile("jobs:\n  slow:\n    runs-on: ubuntu-latest\n    steps: [{run: sleep 600}]\n");
    const run = await sys.admin.json("run create", "--repo", "alice/app", "--workflow-file", ".shithub/workflows/slow.yml", "--head-sha", "a".repeat(40), "--source", wf);
    const job = `${sys.apiUrl}/api/v1/jobs/${run.job_ids[0]}`, headers = { authorization: `Bearer ${token}` };
    const status = async () => ((await (await fetch(job, { headers })).json()) as { status: string }).status;
    await waitFor("the job to run", async () => (await status()) === "running");
    expect((await fetch(`${job}/cancel`, { method: "POST", headers })).status).toBe(202);
    await waitFor("the job to be cancelled", async () => (await status()) === "cancelled");
  }, 60_000);
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function databaseExists(name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: inject("serverUrl") });
  await c.connect();
  try {
    return ((await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount ?? 0) > 0;
  } finally {
    await c.end();
  }
}

const logEvents = (s: Service) => s.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, any>);
const envOf = (pid: number) => Object.fromEntries(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));

describe("stop()", () => {
  it("leaves nothing behind: processes and the job's step ended, database, queue keys and state dropped; a second stop is a no-op", async () => {
    const sys = await startSystem({ fleet: { runners: 1, capacity: 1 } });
    try {
      await sys.admin("user create", "--login", "bob");
      await expect(sys.admin("repo create", "--owner", "nobody", "--name", "x")).rejects.toThrow(/^admin repo create --owner nobody --name x failed \(exit 1\): admin: no user nobody$/);
      await sys.admin("repo create", "--owner", "bob", "--name", "svc");
      const run = await sys.admin.json<{ job_ids: number[] }>("run create", "--repo", "bob/svc", "--workflow-file", ".shithub/workflows/ci.yml",
        "--head-sha", "b".repeat(40), "--source", sys.tempFile("jobs:\n  slow:\n    runs-on: linux\n    steps: [{run: sleep 600}]\n"));
      const fleet = sys.processes.fleets[0]!;
      const started = await waitFor("the step to start", async () => logEvents(fleet).find((e) => e.msg === "container started" && e.job_id === run.job_ids[0]));
      const pids = [sys.processes.api.proc.pid!, sys.processes.worker.proc.pid!, fleet.proc.pid!, started.pid as number];
      expect(pids.every(alive)).toBe(true);
      // Secrets of this system's own, handed over in the environment and printed nowhere.
      const env = envOf(sys.processes.api.proc.pid!);
      expect(env.INTENT_SIGNING_KEY).toMatch(/^[0-9a-f]{64}$/);
      expect(env.INTENT_SIGNING_KEY).not.toBe(process.env.INTENT_SIGNING_KEY);
      expect(envOf(fleet.proc.pid!).RUNNER_REGISTRATION_TOKEN).toBe(env.RUNNER_REGISTRATION_TOKEN);
      for (const s of [sys.processes.api, sys.processes.worker, fleet]) {
        expect(s.output()).not.toContain(env.INTENT_SIGNING_KEY);
        expect(s.output()).not.toContain(env.RUNNER_REGISTRATION_TOKEN);
      }
      expect(await queueKeys(sys.redisUrl, sys.queuePrefix)).not.toEqual([]);
      const stateDir = path.dirname(path.dirname(sys.tempFile("x")));
      const db = new URL(sys.databaseUrl).pathname.slice(1);
      expect(await databaseExists(db)).toBe(true);

      await sys.stop();
      expect(pids.filter(alive)).toEqual([]);
      expect(await databaseExists(db)).toBe(false);
      expect(await queueKeys(sys.redisUrl, sys.queuePrefix)).toEqual([]);
      expect(existsSync(stateDir)).toBe(false);
      // The fleet stopped gracefully: it reported its job cancelled before it went.
      expect(logEvents(fleet).some((e) => e.msg === "job finished" && e.job_id === run.job_ids[0])).toBe(true);
      await sys.stop();
    } finally {
      await sys.stop();
    }
  }, 150_000);
});

describe("failing clearly", () => {
  it("names an unreachable DATABASE_URL (without its password) and starts nothing", async () => {
    const t0 = Date.now();
    const err = await startSystem({ databaseUrl: "postgresql://kit:s3cret-pw@127.0.0.1:1/app" }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^startSystem: Postgres is unreachable at postgresql:\/\/kit@127\.0\.0\.1:1\/app \(DATABASE_URL\): .*ECONNREFUSED/);
    expect((err as Error).message).not.toContain("s3cret-pw");
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("names the process that did not start, with its last lines, and undoes what had started", async () => {
    const before = await databasesLike("kit_%");
    const err = await startSystem({ fleet: { env: { HEARTBEAT_MS: "soon" } } }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^startSystem: the fleet 1 process \(runner-sim\/main\.ts\) exited \(code 2\) before it was ready; its last lines:\n/);
    expect((err as Error).message).toContain("HEARTBEAT_MS");
    // The api and worker it had started are gone with their database.
    expect((await databasesLike("kit_%")).filter((d) => !before.includes(d))).toEqual([]);
  }, 60_000);

  it("refuses options it does not know how to honour", async () => {
    await expect(startSystem({ logLevel: "warn" as "info" })).rejects.toThrow(/^startSystem: invalid options: logLevel/);
    await expect(startSystem({ queuePrefix: "a*" })).rejects.toThrow(/queuePrefix: letters, digits/);
  });
});

async function databasesLike(pattern: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: inject("serverUrl") });
  await c.connect();
  try {
    return (await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [pattern])).rows.map((r) => r.datname);
  } finally {
    await c.end();
  }
}

const dockerAnswers = (() => {
  try {
    execFileSync("docker", ["info"], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
})();
const imagePresent = (image: string) => {
  try {
    execFileSync("docker", ["image", "inspect", image], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
};

describe("containers (DATABASE_URL and REDIS_URL unset)", () => {
  beforeAll(() => {
    vi.stubEnv("DATABASE_URL", "");
    vi.stubEnv("REDIS_URL", "");
  });
  afterAll(() => {
    vi.stubEnv("DATABASE_URL", inject("serverUrl"));
    vi.stubEnv("REDIS_URL", inject("redisUrl"));
  });

  it("never pulls: an image that is not present locally is named, with the variable that picks another", async () => {
    const original = process.env.TEST_POSTGRES_IMAGE;
    vi.stubEnv("TEST_POSTGRES_IMAGE", "actions-kit-absent/postgres:none");
    try {
      const err = await startSystem().catch((e: Error) => e);
      expect((err as Error).message).toMatch(dockerAnswers
        ? /image actions-kit-absent\/postgres:none is not present in the local Docker engine and the kit never pulls .*TEST_POSTGRES_IMAGE/
        : /DATABASE_URL and REDIS_URL not set and no Docker engine answers/);
    } finally {
      vi.stubEnv("TEST_POSTGRES_IMAGE", original);
    }
  });

  const images = [process.env.TEST_POSTGRES_IMAGE || "postgres:15", process.env.TEST_REDIS_IMAGE || "redis:7"];
  it.runIf(dockerAnswers && images.every(imagePresent))(`starts ${images.join(" and ")} with testcontainers, removes a dead test process's containers first and its own at stop`, async () => {
    // What a crashed test process left: a container of the kit's whose owner is gone.
    const orphan = execFileSync("docker", ["create", "--pull=never", "--label", "actions-lifecycle.testing-kit=1", "--label", "actions-lifecycle.testing-kit.pid=999999999", images[1]!], { encoding: "utf8" }).trim();
    const sys = await startSystem({ fleet: false });
    try {
      expect(execFileSync("docker", ["ps", "-a", "-q", "--no-trunc", "--filter", `id=${orphan}`], { encoding: "utf8" }).trim()).toBe("");
      expect(new URL(sys.databaseUrl).port).not.toBe("5432");
      expect(await sys.admin("user create", "--login", "carol")).toMatch(/^created user carol/);
      expect((await fetch(`${sys.apiUrl}/readyz`)).status).toBe(200);
    } finally {
      await sys.stop();
    }
    expect(execFileSync("docker", ["ps", "-a", "-q", "--filter", `label=actions-lifecycle.testing-kit.pid=${process.pid}`], { encoding: "utf8" }).trim()).toBe("");
  }, 180_000);
});

describe("a fleet with RUNNER_DRIVER=docker", () => {
  const image = process.env.RUNNER_DOCKER_IMAGE || "actions-runner-job:local";
  const containerExists = (id: string) => execFileSync("docker", ["ps", "-a", "-q", "--filter", `id=${id}`], { encoding: "utf8" }).trim() !== "";
  it.runIf(dockerAnswers && imagePresent(image))("runs each job in a container: cancel stops one, stop() the other", async () => {
    const sys = await startSystem({ fleet: { runners: 1, capacity: 2, driver: "docker" } });
    try {
      await sys.admin("user create", "--login", "erin");
      await sys.admin("repo create", "--owner", "erin", "--name", "d");
      const { token } = await sys.admin.json<{ token: string }>("token create", "--user", "erin", "--scopes", "repo:write");
      const run = await sys.admin.json<{ job_ids: number[] }>("run create", "--repo", "erin/d", "--workflow-file", ".shithub/workflows/ci.yml", "--head-sha", "e".repeat(40),
        "--source", sys.tempFile("jobs:\n  one:\n    runs-on: linux\n    steps: [{run: sleep 600}]\n  two:\n    runs-on: linux\n    steps: [{run: sleep 600}]\n"));
      const fleet = sys.processes.fleets[0]!;
      const [one, two] = await Promise.all(run.job_ids.map((id) =>
        waitFor(`job ${id}'s container`, async () => logEvents(fleet).find((e) => e.msg === "container started" && e.job_id === id)?.container_id as string | undefined)));
      expect([containerExists(one!), containerExists(two!)]).toEqual([true, true]);
      const res = await fetch(`${sys.apiUrl}/api/v1/jobs/${run.job_ids[0]}/cancel`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(202);
      await waitFor("the cancelled job's container to be gone", async () => !containerExists(one!), 15_000);
      expect(containerExists(two!)).toBe(true);
      await sys.stop();
      expect(containerExists(two!)).toBe(false);
    } finally {
      await sys.stop();
    }
  }, 150_000);
});

/** The README's example, as a user's test file outside this checkout: the kit's import by path. */
function exampleFile(kit: string): string {
  const readme = readFileSync(new URL("../testing/README.md", import.meta.url), "utf8");
  const block = /## Example\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error("testing/README.md has no ts block under ## Example");
  return `import { afterAll, beforeAll, expect, it } from "vitest";\nimport { startSystem, waitFor, type System } from ${JSON.stringify(kit)};\n\n${block}`;
}

describe("imported from a project outside this checkout", () => {
  const kit = fileURLToPath(new URL("../testing/index.ts", import.meta.url));
  const bin = (name: string) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));
  // A child vitest must not take this run's worker settings for its own.
  const childEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST")));

  it("is the code the README shows: its example, run here above, is the README's block line for line", () => {
    const here = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").map((l) => l.replace(/^ {2}/, "")).filter((l) => l !== "");
    const lines = exampleFile(kit).split("\n").slice(3).filter((l) => l !== "");
    const at = here.indexOf(lines[0]!);
    expect(at).toBeGreaterThan(-1);
    expect(here.slice(at, at + lines.length)).toEqual(lines);
  });

  it("the project's README shows the same example, with its import", () => {
    const project = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const lines = exampleFile("<checkout>/testing/index.ts").split("\n").slice(1).join("\n");
    expect(project).toContain("```ts\n" + lines + "```");
  });

  it("runs the README's example under vitest, and a tsx script with a --source path relative to its own directory", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "kit-user-"));
    try {
      writeFileSync(path.join(dir, "example.test.ts"), exampleFile(kit));
      writeFileSync(path.join(dir, "ci.yml"), "jobs:\n  quick:\n    runs-on: ubuntu-latest\n    steps: [{run: echo hi}]\n");
      writeFileSync(path.join(dir, "main.mts"), [
        `import { startSystem, waitFor } from ${JSON.stringify(kit)};`,
        "const sys = await startSystem();",
        "try {",
        '  await sys.admin("user create", "--login", "dora");',
        '  await sys.admin("repo create", "--owner", "dora", "--name", "x");',
        '  const run = await sys.admin.json("run create", "--repo", "dora/x", "--workflow-file", ".shithub/workflows/ci.yml", "--head-sha", "c".repeat(40), "--source", "ci.yml");',
        '  const { token } = await sys.admin.json("token create", "--user", "dora", "--scopes", "repo:read");',
        "  const view = await waitFor(\"the run to complete\", async () => { const v = await (await fetch(`${sys.apiUrl}/api/v1/runs/${run.run_id}`, { headers: { authorization: `Bearer ${token}` } })).json(); return v.status === \"completed\" && v; });",
        "  console.log(JSON.stringify({ conclusion: view.conclusion }));",
        "} finally { await sys.stop(); }",
      ].join("\n"));
      const run = promisify(execFile);
      const [script, suite] = await Promise.all([
        run(bin("tsx"), ["main.mts"], { cwd: dir, env: childEnv(), timeout: 150_000 }),
        run(bin("vitest"), ["run", "--root", dir], { cwd: dir, env: { ...childEnv(), NO_COLOR: "1" }, timeout: 150_000 }),
      ]);
      expect(JSON.parse(script.stdout.trim().split("\n").at(-1)!)).toEqual({ conclusion: "success" });
      expect(suite.stdout).toMatch(/Tests\s+1 passed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
