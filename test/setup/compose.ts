import { spawn } from "node:child_process";

// Driving docker compose from a test: the CLI (plugin or Debian's docker-compose 1.29), a
// project of the test's own, and what the engine holds under that project's label.

export interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to its end or kills it at the deadline (its own child only). */
export function sh(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Promise<Out> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")} did not finish within ${o.timeoutMs} ms; its output so far:\n${tail(stdout + stderr, 20)}`));
    }, o.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${cmd}: ${e.message}`, ms: performance.now() - t0 });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

export const tail = (s: string, n: number) => s.trimEnd().split("\n").slice(-n).join("\n");

/** null when an engine answers, else why not (one line). */
export async function engineAbsent(): Promise<string | null> {
  const r = await sh("docker", ["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 20_000 }).catch((e: Error) => ({ code: -1, stdout: "", stderr: e.message }));
  return r.code === 0 && r.stdout.trim() !== "" ? null : tail(r.stderr || r.stdout || `docker info exited ${r.code}`, 1);
}

/** The compose CLI: the `docker compose` plugin when it answers, else `docker-compose`. */
export async function composeCli(): Promise<{ cmd: string; pre: string[]; version: string }> {
  const plugin = await sh("docker", ["compose", "version", "--short"], { timeoutMs: 20_000 });
  if (plugin.code === 0) return { cmd: "docker", pre: ["compose"], version: `docker compose ${plugin.stdout.trim()}` };
  const v1 = await sh("docker-compose", ["version", "--short"], { timeoutMs: 20_000 });
  if (v1.code === 0) return { cmd: "docker-compose", pre: [], version: `docker-compose ${v1.stdout.trim()}` };
  throw new Error("neither `docker compose` nor `docker-compose` answers: install one (Debian: apt-get install -y docker-compose)");
}

export interface Container {
  id: string;
  name: string;
  service: string;
  state: string;
  health: string | null;
  exitCode: number;
}

/** One compose project, named by the test, with its variables and an empty --env-file. */
export class Project {
  constructor(
    readonly cli: { cmd: string; pre: string[] },
    readonly name: string,
    readonly file: string,
    readonly envFile: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  run(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = this.env): Promise<Out> {
    return sh(this.cli.cmd, [...this.cli.pre, "--env-file", this.envFile, "-p", this.name, "-f", this.file, ...args], { env, timeoutMs });
  }

  /** Like run, but a non-zero exit throws with the command's last lines. */
  async ok(args: string[], timeoutMs: number): Promise<Out> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`compose ${args.join(" ")} exited ${r.code}:\n${tail(r.stderr + r.stdout, 30)}`);
    return r;
  }

  /** `npm run -s admin -- …` inside the api container; its one JSON line when --json. */
  async admin(...args: string[]): Promise<string> {
    const r = await this.ok(["exec", "-T", "api", "npm", "run", "-s", "admin", "--", ...args], 60_000);
    return r.stdout.trim();
  }

  async containers(): Promise<Container[]> {
    const ids = (await this.docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${this.name}`])).split(/\s+/).filter(Boolean);
    if (ids.length === 0) return [];
    const raw = JSON.parse(await this.docker(["inspect", ...ids])) as Array<{
      Id: string; Name: string; Config: { Labels: Record<string, string> };
      State: { Status: string; ExitCode: number; Health?: { Status: string } };
    }>;
    return raw.map((c) => ({
      id: c.Id, name: c.Name.replace(/^\//, ""), service: c.Config.Labels["com.docker.compose.service"] ?? "?",
      state: c.State.Status, health: c.State.Health?.Status ?? null, exitCode: c.State.ExitCode,
    }));
  }

  /** Containers, networks and volumes of the project, by its label and by its name prefix. */
  async leftovers(): Promise<string[]> {
    const label = `label=com.docker.compose.project=${this.name}`;
    const prefix = new RegExp(`^${this.name}[_-]`);
    const lines = async (args: string[]) => (await this.docker(args)).split("\n").map((l) => l.trim()).filter(Boolean);
    const containers = [...(await lines(["ps", "-a", "--filter", label, "--format", "{{.Names}}"])), ...(await lines(["ps", "-a", "--format", "{{.Names}}"])).filter((n) => prefix.test(n))];
    const networks = [...(await lines(["network", "ls", "--filter", label, "--format", "{{.Name}}"])), ...(await lines(["network", "ls", "--format", "{{.Name}}"])).filter((n) => prefix.test(n))];
    const volumes = [...(await lines(["volume", "ls", "--filter", label, "--format", "{{.Name}}"])), ...(await lines(["volume", "ls", "--format", "{{.Name}}"])).filter((n) => prefix.test(n))];
    return [...new Set([...containers.map((c) => `container ${c}`), ...networks.map((n) => `network ${n}`), ...volumes.map((v) => `volume ${v}`)])];
  }

  /** The services' last log lines, for a failure's report. */
  async logs(lines = 40): Promise<string> {
    const r = await this.run(["logs", "--no-color", `--tail=${lines}`], 30_000).catch((e: Error) => ({ stdout: "", stderr: e.message }));
    return (r.stdout + r.stderr).trim();
  }

  private async docker(args: string[]): Promise<string> {
    const r = await sh("docker", args, { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}: ${tail(r.stderr, 3)}`);
    return r.stdout;
  }
}
