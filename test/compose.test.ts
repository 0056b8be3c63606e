import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { waitFor } from "./setup/db.ts";

// What can be held of docker-compose.yml without Docker: it parses, no secret has a default,
// every `$` is an interpolation or escaped, the API is published on loopback unless told
// otherwise, base images are named by variables, and health checks use only what the slim
// Node image has. The real run, with an engine, is test/compose-up.test.ts.

const ROOT = path.resolve(import.meta.dirname, "..");
const text = readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8");
// With merge keys resolved: what compose itself sees of each service.
const merged = parse(text, { merge: true }) as { services: Record<string, { image?: string; build?: { args?: Record<string, string> }; ports?: string[] }> };
const compose = parse(text) as { services: Record<string, { environment?: Record<string, string>; healthcheck?: { test: string[] } }> };

/** Every `${NAME…}` interpolation in the file: its name, operator and the rest. */
const interpolations = [...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)(:?[-?+])?([^}]*)\}/g)].map((m) => ({ name: m[1]!, op: m[2] ?? "", rest: m[3]! }));
const SECRET = /TOKEN|KEY|SECRET|PASSWORD/;

describe("docker-compose.yml", () => {
  it("parses, with the services the README names", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["api", "migrate", "postgres", "redis", "runner-sim", "worker"]);
  });

  it("requires every secret (${VAR:?message}) and gives none a default", () => {
    const secrets = interpolations.filter((i) => SECRET.test(i.name));
    expect(secrets.map((i) => i.name).sort()).toEqual(["INTENT_SIGNING_KEY", "RUNNER_REGISTRATION_TOKEN"]);
    for (const s of secrets) {
      expect(s.op, s.name).toBe(":?");
      // The message says what to set and how to make one.
      expect(s.rest, s.name).toMatch(new RegExp(`set ${s.name} .*openssl rand`));
    }
    // And no literal secret sits in an environment block either.
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [k, v] of Object.entries(svc.environment ?? {})) {
        if (SECRET.test(k)) expect(String(v), `${name}.${k}`).toMatch(/^\$\{[A-Z_]+:\?/);
      }
    }
  });

  it("has no bare $: compose refuses the whole file over one (a health check's regex did)", () => {
    // Comment lines are YAML's, never interpolated.
    const body = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n");
    const bare = [...body.matchAll(/\$(?![{$])/g)].filter((m) => body[m.index! - 1] !== "$");
    expect(bare.map((m) => body.slice(Math.max(0, m.index! - 30), m.index! + 10))).toEqual([]);
  });

  it("publishes the API on loopback unless API_BIND says otherwise, on API_PORT", () => {
    expect(merged.services.api!.ports).toEqual(["${API_BIND:-127.0.0.1}:${API_PORT:-3000}:3000"]);
  });

  it("names base images by variables defaulting to the public ones, and builds one app image", () => {
    expect(merged.services.postgres!.image).toBe("${POSTGRES_IMAGE:-postgres:15}");
    expect(merged.services.redis!.image).toBe("${REDIS_IMAGE:-redis:7}");
    const dockerfile = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
    const nodeDefault = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(nodeDefault).toBe("node:20-bookworm-slim");
    for (const name of ["migrate", "api", "worker", "runner-sim"]) {
      const svc = merged.services[name]!;
      expect(svc.image, name).toBe("${APP_IMAGE:-actions-lifecycle:local}");
      expect(svc.build?.args?.NODE_IMAGE, name).toBe(`\${NODE_IMAGE:-${nodeDefault}}`);
    }
    // Every build argument compose passes is one the Dockerfile declares.
    for (const arg of Object.keys(merged.services.api!.build!.args!)) expect(dockerfile).toMatch(new RegExp(`^ARG ${arg}=`, "m"));
  });

  it("keeps the .env the README writes the secrets to out of the image (Dockerfile: COPY . .)", () => {
    const ignored = readFileSync(path.join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim());
    expect(ignored).toContain(".env");
  });

  it("checks health with node (the slim image has no pgrep) and finds the fleet's process, not itself", async () => {
    const tests = Object.entries(compose.services).filter(([, s]) => s.healthcheck).map(([n, s]) => [n, s.healthcheck!.test] as const);
    for (const [name, t] of tests) expect(t.join(" "), name).not.toMatch(/pgrep|pidof|\bps\b|curl|wget/);
    const sim = compose.services["runner-sim"]!.healthcheck!.test;
    expect(sim.slice(0, 3)).toEqual(["CMD", "node", "-e"]);
    expect(sim[3]).toContain("runner-sim/main.ts");
    // The same script looking for a name no process here has: only itself has it in its
    // command line, and it must not count itself.
    const marker = `no-such-process-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const script = sim[3]!.replace("runner-sim/main.ts", marker);
    expect(spawnSync(process.execPath, ["-e", script]).status).toBe(1);
    const holder = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", marker], { stdio: "ignore" });
    try {
      await waitFor("the check to see the process", async () => spawnSync(process.execPath, ["-e", script]).status === 0, 10_000, 100);
    } finally {
      holder.kill("SIGKILL");
    }
  });
});
