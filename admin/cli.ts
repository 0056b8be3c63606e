import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { commonEnv, ConfigError, parseConfig } from "../infra/config.ts";
import { createPrisma, isTransientDbError, type PrismaClient } from "../infra/db.ts";
import { DependencyError, probePostgres } from "../infra/deps.ts";
import { parseId } from "../domain/ids.ts";
import { SCOPES } from "../domain/scopes.ts";
import * as ops from "./ops.ts";
import { redisAcl, sayRedisAcl } from "./redis-acl.ts";
import { dashboardUrl } from "./dashboard.ts";
import { demoToken } from "./demo-token.ts";
import { listHookDeliveries, listRepoHooks, sayDeliveries, sayHooks } from "./hooks.ts";

// The operator CLI: `npm run -s admin -- <noun> <verb> --flag value … [--json]`.
// Scripts parse the one JSON object it prints with --json, so that output and the exit
// codes (0 done, 1 refused or failed, 2 usage) are a contract; the human line is not.

class UsageError extends Error {
  override name = "UsageError";
}

type Values = Record<string, string | boolean | undefined>;

type Command<R> = {
  /** The flags, written once: it is both the help text and the parser's option table. */
  usage: string;
  say(r: R): string;
  /** Where the contract names the exact keys, --json prints only those. */
  json?(r: R): unknown;
  // A command that needs no database (redis-acl) runs without opening one.
} & ({ run(prisma: PrismaClient, v: Values): Promise<R> } | { runWithoutDatabase(v: Values): Promise<R> });

const command = <R>(c: Command<R>) => c as unknown as Command<unknown>;
const str = (v: Values, k: string) => v[k] as string;
const opt = (v: Values, k: string) => v[k] as string | undefined;
const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x !== "");

function int(v: Values, k: string): number | undefined {
  const s = opt(v, k);
  if (s === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(s)) throw new UsageError(`--${k} must be a whole number, got "${s}"`);
  return Number(s);
}

async function source(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new ops.AdminError(`cannot read --source ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function runnerState(action: "drain" | "undrain" | "revoke") {
  return command({
    usage: "--name NAME",
    run: (p, v) => ops.setRunnerState(p, str(v, "name"), action),
    say: (r) => `runner ${r.name} (id ${r.id}): ${r.revoked ? "revoked" : r.draining ? "draining" : "active"}`,
  });
}

const COMMANDS: Record<string, Command<unknown>> = {
  "user create": command({
    usage: "--login LOGIN [--site-admin]",
    run: (p, v) => ops.createUser(p, { login: str(v, "login"), siteAdmin: v["site-admin"] === true }),
    say: (r) => `created user ${r.login} (id ${r.id}${r.site_admin ? ", site admin" : ""})`,
  }),
  "user suspend": command({
    usage: "--login LOGIN",
    run: (p, v) => ops.suspendUser(p, str(v, "login")),
    say: (r) => `suspended ${r.login} (id ${r.id}) at ${r.suspended_at}`,
  }),
  "repo create": command({
    usage: "--owner LOGIN --name NAME [--private]",
    run: (p, v) => ops.createRepo(p, { owner: str(v, "owner"), name: str(v, "name"), private: v.private === true }),
    say: (r) => `created ${r.visibility} repository ${r.full_name} (id ${r.id})`,
  }),
  "repo archive": command({
    usage: "--repo OWNER/NAME",
    run: (p, v) => ops.archiveRepo(p, str(v, "repo")),
    say: (r) => `archived ${r.full_name} (id ${r.id})`,
  }),
  "collaborator add": command({
    usage: "--repo OWNER/NAME --user LOGIN --role read|triage|write|maintain|admin",
    run: (p, v) => ops.addCollaborator(p, { repo: str(v, "repo"), user: str(v, "user"), role: str(v, "role") }),
    say: (r) => `${r.user} has role ${r.role} on ${r.repo}`,
  }),
  "token create": command({
    usage: "--user LOGIN --scopes SCOPE[,SCOPE…] [--expires-in-days N] [--repo OWNER/NAME] [--name NAME]",
    run: (p, v) =>
      ops.createToken(p, {
        user: str(v, "user"), scopes: list(str(v, "scopes")), expiresInDays: int(v, "expires-in-days"),
        repo: opt(v, "repo"), name: opt(v, "name"),
      }),
    say: (r) => `token ${r.id} (${r.scopes.join(",")}; expires ${r.expires_at ?? "never"}; shown only this once): ${r.token}`,
    json: (r) => ({ id: r.id, token: r.token }),
  }),
  "token revoke": command({
    usage: "--id N",
    run: (p, v) => {
      const id = parseId(str(v, "id"));
      if (id === null) throw new UsageError(`--id must be a positive whole number, got "${str(v, "id")}"`);
      return ops.revokeToken(p, Number(id));
    },
    say: (r) => `token ${r.id} revoked`,
  }),
  "workflow push": command({
    usage: "--repo OWNER/NAME --file .shithub/workflows/NAME.yml --sha SHA --source FILE",
    run: async (p, v) =>
      ops.pushWorkflow(p, { repo: str(v, "repo"), file: str(v, "file"), sha: str(v, "sha"), content: await source(str(v, "source")) }),
    say: (r) => `${r.created ? "stored" : "already stored"} ${r.file} at ${r.sha} in ${r.repo}`,
  }),
  "run create": command({
    usage: "--repo OWNER/NAME --workflow-file PATH --head-sha SHA [--source FILE] [--ref REF] [--event EVENT]",
    run: async (p, v) => {
      const src = opt(v, "source");
      return ops.createRunFromSource(p, {
        repo: str(v, "repo"), workflowFile: str(v, "workflow-file"), headSha: str(v, "head-sha"),
        source: src === undefined ? undefined : await source(src), ref: opt(v, "ref"), event: opt(v, "event"),
      });
    },
    say: (r) => `created run ${r.run_id} (#${r.run_index}) with jobs ${r.job_ids.join(", ")}`,
    json: (r) => ({ run_id: r.run_id, run_index: r.run_index, job_ids: r.job_ids }),
  }),
  "runner register": command({
    usage: "--name NAME --labels LABEL[,LABEL…] [--capacity N]",
    run: (p, v) => ops.registerRunner(p, { name: str(v, "name"), labels: list(str(v, "labels")), capacity: int(v, "capacity") ?? 1 }),
    say: (r) => `registered runner ${r.name} (id ${r.id}); token (shown only this once): ${r.token}`,
    json: (r) => ({ id: r.id, token: r.token }),
  }),
  "runner drain": runnerState("drain"),
  "runner undrain": runnerState("undrain"),
  "runner revoke": runnerState("revoke"),
  "hook list": command({
    usage: "--repo OWNER/NAME",
    run: (p, v) => listRepoHooks(p, str(v, "repo")),
    say: sayHooks,
  }),
  "hook deliveries": command({
    usage: "--repo OWNER/NAME --hook ID [--limit N] [--state delivered|failed|retrying|queued|waiting]",
    run: (p, v) => {
      const hook = parseId(str(v, "hook"));
      if (hook === null) throw new UsageError(`--hook must be a positive whole number, got "${str(v, "hook")}"`);
      return listHookDeliveries(p, { repo: str(v, "repo"), hook, limit: int(v, "limit"), state: opt(v, "state") });
    },
    say: sayDeliveries,
  }),
  "redis-acl": command({
    usage: "[--apply] [--lock-default]",
    runWithoutDatabase: (v) => redisAcl({ apply: v.apply === true, lockDefault: v["lock-default"] === true }),
    say: sayRedisAcl,
    json: (r) => ({ users: r.users.map((u) => ({ name: u.name, rules: u.rules })) }),
  }),
  "demo-token": command({
    usage: "",
    run: (p) => demoToken(p),
    // The token alone, so that `TOKEN=$(npm run -s admin -- demo-token)` works.
    say: (r) => r.token,
    json: (r) => ({ token: r.token, user: r.user, repo: r.repo, scopes: r.scopes }),
  }),
  "dashboard-url": command({
    usage: "--user LOGIN [--scope admin:read|admin:write] [--api-url URL]",
    run: (p, v) => dashboardUrl(p, { user: str(v, "user"), scope: opt(v, "scope"), apiUrl: opt(v, "api-url") ?? (process.env.API_URL || undefined) }),
    say: (r) => `one-use ${r.scope} link for ${r.user}, valid until ${r.expires_at} (open it in a browser; it works once): ${r.url}`,
    json: (r) => ({ url: r.url, expires_at: r.expires_at }),
  }),
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name} ${c.usage} [--json]`);
  return [
    "usage: npm run -s admin -- <command> [flags] [--json]",
    "",
    ...lines,
    "",
    `Scopes: ${SCOPES.join(", ")}.`,
    "--json prints one JSON object on stdout ({\"error\": \"…\"} on stderr when it fails). Exit status: 0 done, 1 refused or failed, 2 usage error.",
    "DATABASE_URL names the database (default postgresql://postgres@127.0.0.1:5432/actions).",
    "redis-acl needs no database: REDIS_URL (an admin user, for --apply), QUEUE_PREFIX, REDIS_ACL_{API,WORKER,RUNNER}_PASSWORD.",
    "  --apply refuses while Redis' default user is open (no password); --lock-default closes it: off when REDIS_URL names",
    "  another admin user, else it needs REDIS_URL's password.",
  ].join("\n");
}

/** "[--a X] --b Y [--c]" → parseArgs options, and which of them are required. */
function flagsOf(spec: string) {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  };
  const required: string[] = [];
  for (const m of spec.matchAll(/(\[?)--([a-z][a-z-]*)(?: (?!--|\[)([^\s\]]+))?/g)) {
    const [, optional, name, value] = m as unknown as [string, string, string, string | undefined];
    options[name] = { type: value === undefined ? "boolean" : "string" };
    if (!optional) required.push(name);
  }
  return { options, required };
}

function parse(name: string, c: Command<unknown>, args: string[]): Values {
  const { options, required } = flagsOf(c.usage);
  let values: Values;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    // Node's parseArgs messages run over several lines with advice about positionals.
    throw new UsageError(`${(e as Error).message.split(/\.\s|\n/)[0]} (usage: ${name} ${c.usage})`);
  }
  const missing = values.help ? [] : required.filter((k) => values[k] === undefined);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((k) => `--${k}`).join(", ")} (usage: ${name} ${c.usage})`);
  return values;
}

async function execute(c: Command<unknown>, v: Values): Promise<string> {
  if ("runWithoutDatabase" in c) {
    const r = await c.runWithoutDatabase(v);
    return v.json ? JSON.stringify(c.json ? c.json(r) : r) : c.say(r);
  }
  const env = parseConfig(commonEnv);
  // A database that is away or missing is one line naming it (docs/decisions.md, "Failing clearly").
  await probePostgres(env.DATABASE_URL);
  // One connection: the CLI runs one operation, and a bigger pool only delays the exit.
  const prisma = createPrisma(env.DATABASE_URL, 1);
  try {
    const r = await c.run(prisma, v);
    return v.json ? JSON.stringify(c.json ? c.json(r) : r) : c.say(r);
  } finally {
    await prisma.$disconnect();
  }
}

async function main(argv: string[]): Promise<{ code: number; out?: string }> {
  const [noun, verb, ...rest] = argv;
  if (noun === "help" || noun === "--help" || noun === "-h") return { code: 0, out: usage() };
  if (noun === undefined) throw new UsageError("no command given; see --help");
  // One-word commands (dashboard-url, redis-acl) take every argument after the noun as flags.
  const oneWord = COMMANDS[noun] !== undefined;
  // A flag in the verb's place (`frob --json`) is not part of the command's name.
  const name = oneWord || verb === undefined || verb.startsWith("-") ? noun : `${noun} ${verb}`;
  const c = COMMANDS[name];
  if (!c) throw new UsageError(`unknown command "${name}"; see --help`);
  const v = parse(name, c, oneWord ? argv.slice(1) : rest);
  if (v.help) return { code: 0, out: `usage: ${name} ${c.usage} [--json]` };
  return { code: 0, out: await execute(c, v) };
}

/** Where we tried to connect, without a password (in the userinfo or the query). */
function where(): string {
  const raw = process.env.DATABASE_URL || commonEnv.shape.DATABASE_URL.parse(undefined);
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.username ? `${u.username}@` : ""}${u.host}${u.pathname}`;
  } catch {
    return "DATABASE_URL";
  }
}

/**
 * Prisma's messages open with "Invalid `prisma.x()` invocation" and a code frame; the
 * reason is the driver's message, or else the message's last line.
 */
function reason(e: unknown): string {
  const err = e as { message?: unknown; meta?: { driverAdapterError?: { cause?: { originalMessage?: unknown } } } } | null;
  const original = err?.meta?.driverAdapterError?.cause?.originalMessage;
  if (typeof original === "string") return original;
  const lines = String(typeof err?.message === "string" ? err.message : e).split("\n").filter((l) => l.trim() !== "");
  return lines.at(-1)?.trim() ?? "unknown error";
}

/** One line for stderr and an exit status; a stack only for what is not an expected failure. */
function explain(e: unknown): { code: number; message: string } {
  const code = (e as { code?: unknown } | null)?.code;
  if (e instanceof UsageError) return { code: 2, message: e.message };
  if (e instanceof ops.AdminError) return { code: 1, message: e.message };
  // A bad setting exits 2 in every entry point (infra/deps.ts outcomeOf).
  if (e instanceof ConfigError) return { code: 2, message: e.message.replace(/:?\n\s*/g, "; ") };
  if (e instanceof DependencyError) return { code: 1, message: e.message };
  // P1xxx: Prisma could not reach, log in to, or find the database (lost after the probe).
  if (isTransientDbError(e) || (typeof code === "string" && /^P1\d{3}$/.test(code))) {
    return { code: 1, message: `database unavailable at ${where()} (DATABASE_URL): ${reason(e)}` };
  }
  if (code === "P2021" || code === "P2022") {
    return { code: 1, message: `database schema missing or out of date (run npm run db:migrate): ${reason(e)}` };
  }
  const debug = process.env.ADMIN_DEBUG ? `\n${(e as Error)?.stack ?? String(e)}` : " (set ADMIN_DEBUG=1 for details)";
  return { code: 1, message: `unexpected error: ${reason(e)}${debug}` };
}

// exitCode rather than exit(): stdout is a pipe for scripts, and exit() can cut it short.
main(process.argv.slice(2)).then(
  ({ code, out }) => {
    if (out !== undefined) process.stdout.write(`${out}\n`);
    process.exitCode = code;
  },
  (e: unknown) => {
    const { code, message } = explain(e);
    // A script that asked for --json parses failures too: one JSON object on stderr.
    const asJson = process.argv.slice(2).includes("--json");
    process.stderr.write(asJson ? `${JSON.stringify({ error: message })}\n` : `admin: ${message}\n`);
    process.exitCode = code;
  },
);
