import { spawn, execFile, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { ACL_ROLES, ACL_USER, aclUsers, urlForUser, type AclRole } from "../infra/redis-acl.ts";

// Private Redis and Postgres servers for the scenarios that stop them: the machine's
// shared servers carry other people's tests and must never be touched.

const run = promisify(execFile);

// If this process dies before a scenario's finally runs, its private servers must not outlive it.
const atExit = new Map<object, () => void>();
process.once("exit", () => {
  for (const f of atExit.values()) {
    try {
      f();
    } catch {
      // Best effort: the process is going away.
    }
  }
});

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until truthy; throws naming `what` at the deadline. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** AUTH and one raw PING, so readiness does not depend on a client's reconnect logic. */
function redisPing(port: number, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let got = "";
    const done = (ok: boolean) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.on("error", () => done(false));
    // Before the first ACL SAVE the default user has no password and takes any.
    sock.on("connect", () => sock.write(`AUTH default ${password}\r\nPING\r\n`));
    // A Redis still loading its AOF answers -LOADING: not ready yet.
    sock.on("data", (d) => {
      const lines = (got += d.toString()).split("\r\n");
      if (lines.length > 2) done(lines[1] === "+PONG");
    });
  });
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once("exit", () => r()));
}

/** The Redis users of docs/security.md ("Redis roles") on a private server: a URL per role, and the admin's. */
export interface AclUrls {
  admin: string;
  api: string;
  worker: string;
  runner: string;
}

const servers = new Map<string, PrivateRedis>();

/** The private server (of this process) whose admin URL this is, if any. */
export function privateRedisAt(url: string): PrivateRedis | undefined {
  return servers.get(url);
}

/**
 * A redis-server of our own. Its ACL users live in an aclfile, as an operator would keep
 * them (README): `applyAcl` sets them and ACL SAVEs, and a restart loads them again. The
 * default user (the admin) has a password, so a process handed no user is refused rather
 * than quietly running as the admin.
 */
export class PrivateRedis {
  proc: ChildProcess | null = null;
  acl: AclUrls | null = null;
  private readonly adminPassword = randomBytes(18).toString("hex");
  private constructor(readonly port: number, readonly dir: string) {}

  /** The admin's URL (Redis' default user, with its password). */
  get url(): string {
    return urlForUser(this.base, "default", this.adminPassword);
  }

  private get base(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async create(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort(), mkdtempSync(path.join(os.tmpdir(), "chaos-redis-")));
    writeFileSync(path.join(r.dir, "users.acl"), "");
    atExit.set(r, () => {
      r.proc?.kill("SIGKILL");
      rmSync(r.dir, { recursive: true, force: true });
    });
    await r.start();
    await r.admin(async (c) => {
      await c.call("ACL", "SETUSER", "default", `>${r.adminPassword}`);
      await c.call("ACL", "SAVE");
    });
    servers.set(r.url, r);
    return r;
  }

  private async admin<T>(f: (c: Redis) => Promise<T>): Promise<T> {
    const c = new Redis(this.url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
    try {
      return await f(c);
    } finally {
      c.disconnect();
    }
  }

  async start(): Promise<void> {
    // appendonly: what was queued before a stop is there after the start.
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", this.dir, "--aclfile", path.join(this.dir, "users.acl")];
    this.proc = spawn("redis-server", args, { stdio: "ignore" });
    await until(`redis on ${this.port}`, () => redisPing(this.port, this.adminPassword), 15_000, 50);
  }

  /** Sets the three users for `prefix` (random passwords), persisted in the aclfile. */
  async applyAcl(prefix: string): Promise<AclUrls> {
    const passwords = Object.fromEntries(ACL_ROLES.map((r) => [r, randomBytes(18).toString("hex")])) as Record<AclRole, string>;
    const plan = aclUsers({ prefix, passwords });
    if (!plan.ok) throw new Error(`no ACL users for prefix ${prefix}: ${JSON.stringify(plan.problem)}`);
    await this.admin(async (c) => {
      for (const u of plan.users) await c.call("ACL", "SETUSER", u.name, ...u.rules);
      await c.call("ACL", "SAVE");
      await c.call("ACL", "LOG", "RESET");
    });
    const role = (r: AclRole) => urlForUser(this.base, ACL_USER[r], passwords[r]);
    this.acl = { admin: this.url, api: role("api"), worker: role("worker"), runner: role("runner") };
    return this.acl;
  }

  /** ACL LOG: every command refused since the users were set, as flat key/value records. */
  async aclDenials(): Promise<Record<string, string>[]> {
    const raw = await this.admin((c) => c.call("ACL", "LOG") as Promise<unknown[][]>);
    return raw.map((e) => Object.fromEntries(Array.from({ length: e.length / 2 }, (_, i) => [String(e[2 * i]), String(e[2 * i + 1])])));
  }

  /**
   * SIGTERM is Redis' own clean shutdown, which flushes the append-only file. SIGKILL is a
   * crash of the process (not of the machine): what Redis wrote is in the page cache.
   */
  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p) return;
    p.kill(signal);
    await exited(p);
  }

  async dispose(): Promise<void> {
    if (this.proc) {
      this.proc.kill("SIGKILL");
      await exited(this.proc);
    }
    rmSync(this.dir, { recursive: true, force: true });
    atExit.delete(this);
    servers.delete(this.url);
  }
}

function pgBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error("no Postgres server binaries under /usr/lib/postgresql; set PG_BIN");
  return path.join(root, versions[0]!, "bin");
}

export class PrivatePostgres {
  private constructor(readonly port: number, readonly dir: string, readonly asPg: string[]) {}

  url(database: string): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${database}`;
  }

  static async create(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "chaos-pg-"));
    // initdb refuses to run as root: the cluster belongs to the postgres OS user.
    const root = process.getuid?.() === 0;
    if (root) {
      const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim());
      const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
      chownSync(dir, uid, gid);
    }
    const pg = new PrivatePostgres(await freePort(), dir, root ? ["runuser", "-u", "postgres", "--"] : []);
    atExit.set(pg, () => {
      const [cmd, ...rest] = [...pg.asPg, path.join(pgBin(), "pg_ctl"), "-D", pg.data, "-m", "immediate", "-w", "stop"];
      if (existsSync(path.join(pg.data, "postmaster.pid"))) execFileSync(cmd!, rest, { stdio: "ignore", timeout: 30_000 });
      rmSync(dir, { recursive: true, force: true });
    });
    await pg.exec("initdb", ["-D", pg.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    await pg.start();
    return pg;
  }

  get data(): string {
    return path.join(this.dir, "data");
  }

  private async exec(tool: string, args: string[]): Promise<void> {
    const [cmd, ...rest] = [...this.asPg, path.join(pgBin(), tool), ...args];
    await run(cmd!, rest, { timeout: 60_000 });
  }

  start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=60`;
    return this.exec("pg_ctl", ["-D", this.data, "-o", opts, "-l", path.join(this.dir, "log"), "-w", "-t", "60", "start"]);
  }

  /** Fast shutdown: sessions are terminated, in-flight transactions roll back, nothing committed is lost. */
  stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    return this.exec("pg_ctl", ["-D", this.data, "-m", mode, "-w", "-t", "60", "stop"]);
  }

  async dispose(): Promise<void> {
    // Already stopped or never started: the data folder goes either way.
    await this.stop("immediate").catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
    atExit.delete(this);
  }
}
