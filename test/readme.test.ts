import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { withDatabase } from "../prisma/engine.ts";
import { connectRedis } from "../infra/redis.ts";
import { spawnService, type Service } from "../scripts/service.ts";
import { freePort } from "../chaos/infra.ts";

// The README's "Use it" commands, pasted in order after `npm start`, must work: this file
// starts the system the way `npm start` does (scripts/start.ts, on a database, queue
// prefix, ports and runner state folder of its own), then runs every shell block marked
// `<!-- readme-test -->` in one bash -e session, in order, and checks that each block
// exits 0 and that the status codes its comments show (`# 202`) are the ones printed.

const MARKER = "<!-- readme-test -->";

type Block = { line: number; code: string; expected: string[] };

/** The marked blocks of a Markdown text, or the first marker not followed by a sh block. */
function extractBlocks(md: string): { ok: true; blocks: Block[] } | { ok: false; error: string } {
  const lines = md.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== MARKER) continue;
    if (lines[i + 1]?.trim() !== "```sh") return { ok: false, error: `line ${i + 1}: ${MARKER} is not followed by a \`\`\`sh block` };
    const end = lines.findIndex((l, j) => j > i + 1 && l.trim() === "```");
    if (end === -1) return { ok: false, error: `line ${i + 2}: unterminated sh block` };
    const body = lines.slice(i + 2, end);
    const expected = body.flatMap((l) => /^\s*#\s*([1-5]\d\d)\s*$/.exec(l)?.[1] ?? []);
    blocks.push({ line: i + 2, code: body.join("\n"), expected });
    i = end;
  }
  return { ok: true, blocks };
}

/** The status codes a block printed: curl's `-w '\n%{http_code}\n'` puts each on a line of its own. */
const printedCodes = (stdout: string) => stdout.split("\n").flatMap((l) => /^([1-5]\d\d)$/.exec(l.trim())?.[1] ?? []);

describe("extractBlocks", () => {
  const cases: { name: string; md: string; want: ReturnType<typeof extractBlocks> }[] = [
    {
      name: "takes only marked sh blocks, with the codes of their comments",
      md: ["```sh", "echo skipped", "```", MARKER, "```sh", "curl x", "# {\"a\":1}", "# 202", "```"].join("\n"),
      want: { ok: true, blocks: [{ line: 5, code: "curl x\n# {\"a\":1}\n# 202", expected: ["202"] }] },
    },
    { name: "a marker before a non-sh block is an error", md: [MARKER, "```yaml", "a: 1", "```"].join("\n"), want: { ok: false, error: `line 1: ${MARKER} is not followed by a \`\`\`sh block` } },
    { name: "an unterminated block is an error", md: [MARKER, "```sh", "echo"].join("\n"), want: { ok: false, error: "line 2: unterminated sh block" } },
  ];
  for (const c of cases) it(c.name, () => expect(extractBlocks(c.md)).toEqual(c.want));
  it("reads printed codes only from lines that are a code alone", () => {
    expect(printedCodes('{"job_id":202}\n202\n  201 \nx 404\n')).toEqual(["202", "201"]);
  });
});

/** Runs the blocks in one bash -e session; each is framed by lines that say where it begins and ends. */
async function runBlocks(blocks: Block[], dir: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = ["set -e"];
  for (const [i, b] of blocks.entries()) {
    const file = path.join(dir, `block-${i}.sh`);
    await writeFile(file, `${b.code}\n`);
    script.push(`echo "::begin ${i}"`, `source ${JSON.stringify(file)}`, `echo "::end ${i}"`);
  }
  const proc = spawn("bash", ["-e", "-c", script.join("\n")], { cwd: process.cwd(), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => proc.on("close", (c) => r(c)));
  return { code, stdout, stderr };
}

/** Each block's own output, from the frame lines (a block that did not end has none after its begin). */
function perBlock(stdout: string, n: number): { out: string; ended: boolean }[] {
  return Array.from({ length: n }, (_, i) => {
    const begin = stdout.indexOf(`::begin ${i}\n`);
    const end = stdout.indexOf(`::end ${i}\n`);
    if (begin === -1) return { out: "", ended: false };
    return { out: stdout.slice(begin + `::begin ${i}\n`.length, end === -1 ? undefined : end), ended: end !== -1 };
  });
}

describe("the README's commands, pasted in order after npm start", () => {
  const dbName = `actions_readme_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const prefix = `readme${process.pid}${Math.random().toString(36).slice(2, 6)}`;
  const dbUrl = withDatabase(inject("serverUrl"), dbName);
  let dir: string;
  let system: Service;
  let api: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "readme-test-"));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    // What `npm start` runs (package.json), on a database it creates itself as it would.
    system = spawnService("scripts/start.ts", {
      DATABASE_URL: dbUrl, REDIS_URL: inject("redisUrl"), QUEUE_PREFIX: prefix,
      PORT: String(port), HOST: "127.0.0.1", WORKER_PORT: "0", API_URL: api,
      RUNNER_STATE_DIR: path.join(dir, "runner-state"),
    });
    await system.waitForLine(/actions-lifecycle is up at/, 90_000);
  });

  afterAll(async () => {
    await system?.kill("SIGINT");
    const redis = connectRedis(inject("redisUrl"), "worker", "readme-test-cleanup");
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    const c = new pg.Client({ connectionString: inject("serverUrl") });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(dbName)} WITH (FORCE)`);
    await c.end();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("admin demo-token prints a fresh repo:write token for the demo user, alone or as JSON", async () => {
    const cli = (...args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, ["--import", "tsx", "admin/cli.ts", ...args], { env: { ...process.env, DATABASE_URL: dbUrl }, stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        p.stdout.on("data", (d: Buffer) => (out += d.toString()));
        p.on("close", (code) => resolve({ code, out }));
      });
    const plain = await cli("demo-token");
    expect(plain.code).toBe(0);
    expect(plain.out).toMatch(/^shithub_pat_[0-9A-Za-z]{32}\n$/);
    const json = await cli("demo-token", "--json");
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out) as { token: string };
    expect(parsed).toEqual({ token: expect.stringMatching(/^shithub_pat_/), user: "demo", repo: "demo/hello", scopes: ["repo:write"] });
    expect(parsed.token).not.toBe(plain.out.trim());
    const res = await fetch(`${api}/api/v1/jobs/1`, { headers: { Authorization: `Bearer ${parsed.token}` } });
    expect(res.status).toBe(200);
  });

  it("every marked block exits 0 and prints the status codes its comments show", async () => {
    const extracted = extractBlocks(await readFile("README.md", "utf8"));
    if (!extracted.ok) throw new Error(`README.md: ${extracted.error}`);
    const { blocks } = extracted;
    // The walk-through covers the lifecycle routes; fewer blocks means the markers were lost.
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const result = await runBlocks(blocks, dir, { API_URL: api, DATABASE_URL: dbUrl });
    const outs = perBlock(result.stdout, blocks.length);
    for (const [i, b] of blocks.entries()) {
      const where = `README.md block at line ${b.line}`;
      const o = outs[i]!;
      expect(o.ended, `${where} did not finish (bash exit ${result.code}); its output:\n${o.out}\nstderr:\n${result.stderr.slice(-3000)}`).toBe(true);
      expect(printedCodes(o.out), `${where}: status codes printed vs. shown in its comments; output:\n${o.out}`).toEqual(b.expected);
    }
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
  }, 300_000);
});
