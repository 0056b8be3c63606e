import type { PrismaClient } from "../../infra/db.ts";
import * as ops from "../../admin/ops.ts";
import { sha256 } from "../../domain/tokens.ts";

export const TWO_JOBS = `name: CI
on: push
jobs:
  build:
    name: Build
    runs-on: ubuntu-latest
    steps:
      - name: Compile
        run: echo "compiling"
      - run: sleep 1
  test:
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - run: exit 0
`;

export const ONE_JOB = `name: Single
on: push
jobs:
  only:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
      - run: sleep 600
`;

export const SHA1 = "1111111111111111111111111111111111111111";
export const SHA2 = "2222222222222222222222222222222222222222";

/** Users, repositories and tokens covering every row of the permission matrix. */
export async function buildWorld(prisma: PrismaClient) {
  for (const login of ["alice", "bob", "carol", "dave", "mallory"]) await ops.createUser(prisma, { login });
  const pub = await ops.createRepo(prisma, { owner: "alice", name: "demo" });
  const priv = await ops.createRepo(prisma, { owner: "alice", name: "secret", private: true });
  const other = await ops.createRepo(prisma, { owner: "alice", name: "other" });
  const archived = await ops.createRepo(prisma, { owner: "alice", name: "old" });
  await ops.addCollaborator(prisma, { repo: "alice/demo", user: "bob", role: "write" });
  await ops.addCollaborator(prisma, { repo: "alice/demo", user: "carol", role: "read" });
  await ops.addCollaborator(prisma, { repo: "alice/old", user: "bob", role: "admin" });
  const tok = async (user: string, scopes: string[], extra: { repo?: string; expiresInDays?: number } = {}) =>
    (await ops.createToken(prisma, { user, scopes, ...extra })).token;
  const tokens = {
    alice: await tok("alice", ["repo:write"]),
    bob: await tok("bob", ["repo:write"]),
    bobRead: await tok("bob", ["repo:read"]),
    carol: await tok("carol", ["repo:write"]),
    dave: await tok("dave", ["repo:write"]),
    aliceBoundOther: await tok("alice", ["repo:write"], { repo: "alice/other" }),
  };
  return { repos: { pub, priv, other, archived }, tokens };
}

/** The id of a PAT, for tests that build intents by hand (a signed intent names its token). */
export async function tokenIdOf(prisma: PrismaClient, token: string): Promise<number> {
  const t = await prisma.personalAccessToken.findUniqueOrThrow({ where: { tokenHash: sha256(token) }, select: { id: true } });
  return Number(t.id);
}

export async function pushAndRun(prisma: PrismaClient, repo: string, source: string, sha = SHA1, file = ".shithub/workflows/ci.yml") {
  return ops.createRunFromSource(prisma, { repo, workflowFile: file, headSha: sha, source });
}

export interface Res<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  o: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string>; redirect?: "follow" | "manual" } = {},
): Promise<Res<T>> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.raw !== undefined) {
    body = o.raw;
    headers["content-type"] ??= "application/json";
  } else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers["content-type"] = "application/json";
  }
  const r = await fetch(base + path, { method, headers, body, redirect: o.redirect ?? "follow" });
  const text = await r.text();
  let parsed: unknown = text;
  if ((r.headers.get("content-type") ?? "").includes("json")) parsed = text ? JSON.parse(text) : null;
  return { status: r.status, body: parsed as T, headers: r.headers };
}

/** A test acting as a runner through the runner protocol. */
export async function registerTestRunner(prisma: PrismaClient, name: string, labels = ["ubuntu-latest", "linux", "x64"], capacity = 4) {
  return ops.registerRunner(prisma, { name, labels, capacity });
}

export async function claim(base: string, runnerToken: string) {
  return call(base, "POST", "/api/v1/runners/heartbeat", { token: runnerToken, body: {} });
}

/** Claims until the job with `jobId` is claimed (other claimed jobs are returned too). */
export async function claimJob(base: string, runnerToken: string, jobId: number) {
  for (let i = 0; i < 50; i++) {
    const r = await claim(base, runnerToken);
    if (r.status === 204) break;
    if (r.body.job.id === jobId) return r.body as { token: string; job: { id: number; steps: { id: number }[] } };
  }
  throw new Error(`job ${jobId} could not be claimed`);
}
