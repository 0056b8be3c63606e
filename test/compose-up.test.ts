import { randomBytes } from "node:crypto";
import { lookup } from "node:dns/promises";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { composeCli, engineAbsent, Project, sh } from "./setup/compose.ts";
import { waitFor } from "./setup/db.ts";

// `docker compose up` for real: the README's path for operators, from the build to `down -v`
// (docs/containers.md, "Docker compose"). Skipped only when no Docker engine answers.

const ROOT = path.resolve(import.meta.dirname, "..");
const absent = await engineAbsent();
if (absent) console.log(`compose-up: skipped, no Docker engine answers (${absent}); start one with scripts/docker-engine.sh`);

// The test's own image tag, kept between runs so that the next build is mostly cache.
const APP_IMAGE = process.env.COMPOSE_TEST_IMAGE ?? "actions-lifecycle:compose-test";
const BASES = {
  NODE_IMAGE: process.env.NODE_IMAGE ?? "node:20-bookworm-slim",
  POSTGRES_IMAGE: process.env.POSTGRES_IMAGE ?? "postgres:15",
  REDIS_IMAGE: process.env.REDIS_IMAGE ?? "redis:7",
};
// Copied from NODE_EXTRA_CA_CERTS into the build context (git ignores it), removed after.
const CA_IN_CONTEXT = ".npm-ca.pem";
const SECRETS = ["RUNNER_REGISTRATION_TOKEN", "INTENT_SIGNING_KEY"] as const;

const timings: Record<string, number> = {};
const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings[what] = Math.round(performance.now() - t0);
  }
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once("error", reject).listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** name:address of the npm registry, for builds on an engine whose builds resolve no names. */
async function registryHost(): Promise<string | undefined> {
  const host = new URL(process.env.npm_config_registry ?? "https://registry.npmjs.org/").hostname;
  return lookup(host, { family: 4 }).then((a) => `${host}:${a.address}`, () => undefined);
}

async function projectEnv(port: number, caCopied: boolean): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing of the caller's compose settings or secrets (vitest sets INTENT_SIGNING_KEY).
  for (const k of [...SECRETS, "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "API_BIND", "APP_IMAGE"]) delete env[k];
  const addHost = process.env.BUILD_ADD_HOST ?? (await registryHost());
  return {
    ...env, ...BASES, APP_IMAGE, API_PORT: String(port),
    RUNNER_REGISTRATION_TOKEN: randomBytes(24).toString("hex"),
    INTENT_SIGNING_KEY: randomBytes(32).toString("hex"),
    // Host networking reaches the registry here (the engine's bridge has no route out) and
    // works on any engine.
    BUILD_NETWORK: process.env.BUILD_NETWORK ?? "host",
    ...(addHost ? { BUILD_ADD_HOST: addHost } : {}),
    ...(caCopied ? { NPM_CA_FILE: CA_IN_CONTEXT } : {}),
  };
}

describe.skipIf(absent !== null)("docker compose up, for real", () => {
  let p: Project;
  let port: number;
  let token = "";
  let caCopied = false;
  let broken = false;
  let rerunJob = 0;

  const api = async (method: string, route: string): Promise<{ status: number; body: any }> => {
    const r = await fetch(`http://127.0.0.1:${port}${route}`, {
      method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000),
    });
    return { status: r.status, body: await r.json() };
  };
  const job = async (id: number) => (await api("GET", `/api/v1/jobs/${id}`)).body;

  /** Until the job's long step runs: a runner of the fleet holds it. */
  const running = (id: number) =>
    waitFor(`job ${id} to run its long step`, async () => {
      const j = await job(id);
      return j.status === "running" && j.steps?.some((s: any) => s.name === "Wait ten minutes" && s.status === "running") ? j : null;
    }, 90_000, 100);

  /** Cancel through the API; the runner stops the step and reports; ms to the terminal status. */
  async function cancel(id: number): Promise<number> {
    const t0 = performance.now();
    const r = await api("POST", `/api/v1/jobs/${id}/cancel`);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.changed_jobs).toBe(1);
    const done = await waitFor(`job ${id} to end cancelled`, async () => {
      const j = await job(id);
      return j.status === "cancelled" ? j : null;
    }, 30_000, 50);
    expect(done.conclusion).toBe("cancelled");
    return Math.round(performance.now() - t0);
  }

  /** Every service up and healthy (migrate: exited 0); the workers counted. */
  const healthy = (workers: number) =>
    waitFor(`the services to be healthy with ${workers} worker(s)`, async () => {
      const cs = await p.containers();
      const migrate = cs.find((c) => c.service === "migrate");
      if (migrate?.state === "exited" && migrate.exitCode !== 0) throw new Error(`migrate exited ${migrate.exitCode}`);
      // A service that died will not become healthy: say so now, not at the deadline.
      const dead = cs.find((c) => c.service !== "migrate" && (c.state === "exited" || c.state === "dead"));
      if (dead) throw new Error(`${dead.name} ${dead.state} with code ${dead.exitCode}`);
      const up = (s: string) => cs.filter((c) => c.service === s && c.state === "running" && c.health === "healthy").length;
      const ok = migrate?.state === "exited" && ["postgres", "redis", "api", "runner-sim"].every((s) => up(s) === 1) && up("worker") === workers;
      return ok ? cs : null;
    }, 180_000, 500);

  beforeAll(async () => {
    const cli = await composeCli();
    console.log(`compose-up: using ${cli.version} (${cli.cmd} ${cli.pre.join(" ")})`.trimEnd());
    for (const image of Object.values(BASES)) {
      const r = await sh("docker", ["image", "inspect", "--format", "{{.Id}}", image], { timeoutMs: 20_000 });
      if (r.code !== 0) throw new Error(`${image} is not on this engine and this test never pulls: build the stand-ins (bash scripts/docker-engine.sh) or load it`);
    }
    const ca = process.env.NODE_EXTRA_CA_CERTS;
    if (ca && existsSync(ca)) {
      copyFileSync(ca, path.join(ROOT, CA_IN_CONTEXT));
      caCopied = true;
    }
    port = await freePort();
    const envFile = path.join(mkdtempSync(path.join(os.tmpdir(), "compose-up-")), "empty.env");
    // An empty --env-file: a developer's .env beside the compose file changes nothing here.
    writeFileSync(envFile, "");
    const name = `alctest${process.pid}${randomBytes(3).toString("hex")}`;
    p = new Project(cli, name, path.join(ROOT, "docker-compose.yml"), envFile, await projectEnv(port, caCopied));
    await p.ok(["config", "-q"], 30_000);
  }, 60_000);

  beforeEach((ctx) => {
    if (broken) ctx.skip();
    ctx.onTestFailed(async () => {
      broken = true;
      if (p) console.log(`compose-up: the services' last log lines (project ${p.name}):\n${await p.logs()}`);
    });
  });

  afterAll(async () => {
    if (p) await p.run(["down", "-v", "--remove-orphans", "--timeout", "5"], 120_000).catch((e) => console.log(`compose-up: down failed: ${e}`));
    if (caCopied) rmSync(path.join(ROOT, CA_IN_CONTEXT), { force: true });
    const line = Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(", ");
    if (line) console.log(`compose-up timings: ${line}`);
  }, 150_000);

  it("refuses to start without either secret, and creates nothing", async () => {
    for (const secret of SECRETS) {
      const env = { ...p.env };
      delete env[secret];
      const r = await p.run(["up", "-d", "--no-build"], 60_000, env);
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.stderr).toContain(`set ${secret} `);
    }
    expect(await p.leftovers()).toEqual([]);
  });

  it("builds the image and brings every service up healthy", async () => {
    await timed("build", () => p.ok(["build"], 600_000));
    await timed("up", () => p.ok(["up", "-d"], 300_000));
    await timed("healthy", () => healthy(1));
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(10_000) });
    expect(ready.status).toBe(200);
    // Published on loopback only, and the image carries no CA file from the build context.
    const ps = await p.ok(["port", "api", "3000"], 30_000);
    expect(ps.stdout.trim()).toBe(`127.0.0.1:${port}`);
    const ls = await p.ok(["exec", "-T", "api", "ls", "-a", "/app"], 30_000);
    expect(ls.stdout.split("\n")).not.toContain(CA_IN_CONTEXT);
  }, 900_000);

  it("creates a user, a repository and a token with the admin CLI inside the api container", async () => {
    await timed("admin", async () => {
      expect(await p.admin("user", "create", "--login", "alice", "--site-admin")).toMatch(/^created user alice/);
      expect(await p.admin("repo", "create", "--owner", "alice", "--name", "demo")).toMatch(/^created public repository alice\/demo/);
      token = (JSON.parse(await p.admin("token", "create", "--user", "alice", "--scopes", "repo:write", "--json")) as { token: string }).token;
    });
    expect(token).toMatch(/^shithub_pat_/);
    expect((await api("GET", "/api/v1/repos/alice/demo/actions/runs")).status).toBe(200);
  }, 180_000);

  it("cancels a running job and reruns its run, which the fleet picks up again", async () => {
    const sha = randomBytes(20).toString("hex");
    const run = JSON.parse(await p.admin(
      "run", "create", "--repo", "alice/demo", "--workflow-file", ".shithub/workflows/long.yml",
      "--head-sha", sha, "--source", "examples/long.yml", "--json",
    )) as { run_id: number; job_ids: number[] };
    await timed("first job running", () => running(run.job_ids[0]!));
    timings["cancel → cancelled"] = await cancel(run.job_ids[0]!);
    const ended = await waitFor("the run to complete", async () => {
      const r = (await api("GET", `/api/v1/runs/${run.run_id}`)).body;
      return r.status === "completed" ? r : null;
    }, 30_000, 50);
    expect(ended.conclusion).toBe("cancelled");

    const rerun = await api("POST", `/api/v1/runs/${run.run_id}/rerun`);
    expect(rerun.status, JSON.stringify(rerun.body)).toBe(201);
    expect(rerun.body.parent_run_id).toBe(run.run_id);
    const again = (await api("GET", `/api/v1/runs/${rerun.body.run_id}`)).body;
    rerunJob = again.jobs[0].id;
    await timed("rerun job running", () => running(rerunJob));
  }, 240_000);

  it("scales to three workers, reusing the image, and cancels again", async () => {
    await timed("scale", () => p.ok(["up", "-d", "--no-build", "--scale", "worker=3"], 180_000));
    const cs = await timed("scaled healthy", () => healthy(3));
    expect(new Set(cs.filter((c) => c.service === "worker").map((c) => c.id)).size).toBe(3);
    timings["cancel after scale"] = await cancel(rerunJob);
  }, 300_000);

  it("down -v --remove-orphans leaves no container, network or volume of the project", async () => {
    expect((await p.leftovers()).length).toBeGreaterThan(0);
    await timed("down", () => p.ok(["down", "-v", "--remove-orphans"], 120_000));
    expect(await p.leftovers()).toEqual([]);
  }, 150_000);
});
