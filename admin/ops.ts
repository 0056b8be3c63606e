import { inTx, isUniqueViolation, type PrismaClient } from "../infra/db.ts";
import { createRun } from "../domain/data/runs.ts";
import { num } from "../domain/ids.ts";
import { isScope, SCOPES } from "../domain/scopes.ts";
import { newOpaqueToken, newPat } from "../domain/tokens.ts";
import { MAX_SOURCE_BYTES, parseWorkflow } from "../domain/workflow/parse.ts";
import { prismaSql } from "../infra/sql.ts";

// The operator's operations, as functions over a PrismaClient: the CLI wraps them, and
// tests build their worlds with them.

export class AdminError extends Error {
  override name = "AdminError";
}

const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const REPO_NAME = /^[A-Za-z0-9._-]{1,100}$/;
const SHA = /^[0-9a-f]{7,64}$/;
const RUNNER_LABEL = /^[^,\s]{1,100}$/;
const ROLES = ["read", "triage", "write", "maintain", "admin"] as const;
export type Role = (typeof ROLES)[number];

async function unique<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (isUniqueViolation(e)) throw new AdminError(`${what} already exists`);
    throw e;
  }
}

async function userId(prisma: PrismaClient, login: string): Promise<bigint> {
  const u = await prisma.user.findUnique({ where: { login }, select: { id: true } });
  if (!u) throw new AdminError(`no user ${login}`);
  return u.id;
}

export async function repoByFullName(prisma: PrismaClient, fullName: string) {
  const [owner, name, extra] = fullName.split("/");
  if (!owner || !name || extra !== undefined) throw new AdminError(`repository must be OWNER/NAME, got "${fullName}"`);
  const repo = await prisma.repo.findFirst({ where: { name, owner: { login: owner }, deletedAt: null }, select: { id: true } });
  if (!repo) throw new AdminError(`no repository ${fullName}`);
  return { id: repo.id, fullName: `${owner}/${name}` };
}

export async function createUser(prisma: PrismaClient, a: { login: string; siteAdmin?: boolean }) {
  if (!LOGIN.test(a.login)) throw new AdminError("login must be 1-39 letters, digits or hyphens, starting with a letter or digit");
  const u = await unique(`user ${a.login}`, () => prisma.user.create({ data: { login: a.login, isSiteAdmin: a.siteAdmin ?? false } }));
  return { id: num(u.id), login: u.login, site_admin: u.isSiteAdmin };
}

export async function suspendUser(prisma: PrismaClient, login: string) {
  const id = await userId(prisma, login);
  // A repeat keeps the first suspension's time.
  await prisma.user.updateMany({ where: { id, suspendedAt: null }, data: { suspendedAt: new Date() } });
  const u = await prisma.user.findUniqueOrThrow({ where: { id } });
  return { id: num(u.id), login: u.login, suspended_at: u.suspendedAt!.toISOString() };
}

export async function createRepo(prisma: PrismaClient, a: { owner: string; name: string; private?: boolean }) {
  if (!REPO_NAME.test(a.name)) throw new AdminError("repository name must be 1-100 letters, digits, '.', '_' or '-'");
  const ownerId = await userId(prisma, a.owner);
  const r = await unique(`repository ${a.owner}/${a.name}`, () =>
    prisma.repo.create({ data: { ownerId, name: a.name, visibility: a.private ? "private" : "public" } }),
  );
  return { id: num(r.id), full_name: `${a.owner}/${r.name}`, visibility: r.visibility };
}

export async function archiveRepo(prisma: PrismaClient, fullName: string) {
  const repo = await repoByFullName(prisma, fullName);
  await prisma.repo.update({ where: { id: repo.id }, data: { isArchived: true } });
  return { id: num(repo.id), full_name: repo.fullName, archived: true };
}

export async function addCollaborator(prisma: PrismaClient, a: { repo: string; user: string; role: string }) {
  if (!(ROLES as readonly string[]).includes(a.role)) throw new AdminError(`role must be one of ${ROLES.join(", ")}`);
  const repo = await repoByFullName(prisma, a.repo);
  const uid = await userId(prisma, a.user);
  const role = a.role as Role;
  await prisma.repoCollaborator.upsert({
    where: { repoId_userId: { repoId: repo.id, userId: uid } },
    create: { repoId: repo.id, userId: uid, role },
    update: { role },
  });
  return { repo: repo.fullName, user: a.user, role };
}

export async function createToken(
  prisma: PrismaClient,
  a: { user: string; scopes: string[]; expiresInDays?: number; repo?: string; name?: string },
) {
  const bad = a.scopes.filter((s) => !isScope(s));
  if (a.scopes.length === 0 || bad.length > 0) {
    throw new AdminError(`unknown scope: ${bad.join(", ") || "(none given)"}; valid scopes: ${SCOPES.join(", ")}`);
  }
  if (a.expiresInDays !== undefined && !(Number.isInteger(a.expiresInDays) && a.expiresInDays >= 1 && a.expiresInDays <= 3650)) {
    throw new AdminError("--expires-in-days must be a whole number from 1 to 3650");
  }
  const uid = await userId(prisma, a.user);
  const repoId = a.repo ? (await repoByFullName(prisma, a.repo)).id : null;
  const pat = newPat();
  const t = await prisma.personalAccessToken.create({
    data: {
      userId: uid,
      name: a.name ?? `cli-${new Date().toISOString()}`,
      tokenHash: pat.hash,
      tokenPrefix: pat.prefix,
      scopes: [...new Set(a.scopes)],
      expiresAt: a.expiresInDays ? new Date(Date.now() + a.expiresInDays * 86_400_000) : null,
      repoId,
    },
  });
  return { id: num(t.id), token: pat.token, scopes: t.scopes, expires_at: t.expiresAt?.toISOString() ?? null };
}

function checkSha(sha: string, flag: string): void {
  if (!SHA.test(sha)) throw new AdminError(`${flag} must be 7 to 64 lowercase hex characters, got "${sha}"`);
}

export async function revokeToken(prisma: PrismaClient, id: number) {
  // BigInt() throws a RangeError on fractions and NaN; to the operator that is just no such token.
  if (!Number.isSafeInteger(id) || id < 1) throw new AdminError(`no token ${id}`);
  const n = await prisma.personalAccessToken.updateMany({ where: { id: BigInt(id), revokedAt: null }, data: { revokedAt: new Date() } });
  if (n.count === 0 && !(await prisma.personalAccessToken.findUnique({ where: { id: BigInt(id) } }))) {
    throw new AdminError(`no token ${id}`);
  }
  return { id, revoked: true };
}

/** `flags` name the options the caller's command took (`run create` says --head-sha and --workflow-file). */
export async function pushWorkflow(
  prisma: PrismaClient, a: { repo: string; file: string; sha: string; content: string },
  flags: { sha: string; file: string } = { sha: "--sha", file: "--file" },
) {
  // The repository first: of several mistakes, the one the operator must fix first is reported.
  const repo = await repoByFullName(prisma, a.repo);
  checkSha(a.sha, flags.sha);
  if (!/^\.shithub\/workflows\/[^/]+\.ya?ml$/.test(a.file)) throw new AdminError(`${flags.file} must be .shithub/workflows/NAME.yml`);
  if (Buffer.byteLength(a.content) > MAX_SOURCE_BYTES) throw new AdminError("workflow file too large");
  const key = { repoId: repo.id, path: a.file, headSha: a.sha };
  const existing = await prisma.workflowSource.findUnique({ where: { repoId_path_headSha: key } });
  if (existing) {
    if (existing.content !== a.content) throw new AdminError(`${a.file} at ${a.sha} already exists with different content`);
    return { id: num(existing.id), repo: repo.fullName, file: a.file, sha: a.sha, created: false };
  }
  const s = await unique(`${a.file} at ${a.sha}`, () => prisma.workflowSource.create({ data: { ...key, content: a.content } }));
  return { id: num(s.id), repo: repo.fullName, file: a.file, sha: a.sha, created: true };
}

export async function createRunFromSource(
  prisma: PrismaClient,
  a: { repo: string; workflowFile: string; headSha: string; source?: string; ref?: string; event?: string },
) {
  const repo = await repoByFullName(prisma, a.repo);
  checkSha(a.headSha, "--head-sha");
  if (a.source !== undefined) {
    const parsed = parseWorkflow(a.source);
    if (!parsed.ok) throw new AdminError(`invalid workflow: ${parsed.errors.join("; ")}`);
    await pushWorkflow(prisma, { repo: a.repo, file: a.workflowFile, sha: a.headSha, content: a.source }, { sha: "--head-sha", file: "--workflow-file" });
  }
  return inTx(prisma, async (tx) => {
    const src = await tx.workflowSource.findUnique({
      where: { repoId_path_headSha: { repoId: repo.id, path: a.workflowFile, headSha: a.headSha } },
    });
    if (!src) throw new AdminError(`no workflow source ${a.workflowFile} at ${a.headSha}`);
    const parsed = parseWorkflow(src.content);
    if (!parsed.ok) throw new AdminError(`invalid workflow: ${parsed.errors.join("; ")}`);
    const run = await createRun(prismaSql(tx), {
      repoId: repo.id, workflowFile: a.workflowFile, headSha: a.headSha,
      headRef: a.ref ?? "refs/heads/main", event: a.event ?? "push", eventPayload: {},
      actorUserId: null, parentRunId: null, triggerEventId: null,
    }, parsed.workflow);
    return { run_id: num(run.id), run_index: run.runIndex, job_ids: run.jobIds.map((id) => num(id)) };
  });
}

export async function registerRunner(prisma: PrismaClient, a: { name: string; labels: string[]; capacity: number }) {
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(a.name)) throw new AdminError("runner name must be 1-100 letters, digits, '.', '_' or '-'");
  if (!Number.isInteger(a.capacity) || a.capacity < 1 || a.capacity > 256) throw new AdminError("--capacity must be 1 to 256");
  // A claim needs each of a job's runs-on labels (which cannot hold commas or spaces) among
  // the runner's: a label outside that form could never match, and the runner would idle.
  const bad = a.labels.filter((l) => !RUNNER_LABEL.test(l));
  if (bad.length > 0) throw new AdminError(`bad runner label: "${bad.join('", "')}" (1-100 characters, no commas or spaces)`);
  const labels = [...new Set(a.labels)];
  const t = newOpaqueToken("shithub_runner_");
  const r = await unique(`runner ${a.name}`, () =>
    prisma.runner.create({
      data: { name: a.name, labels, capacity: a.capacity, tokens: { create: { tokenHash: t.hash } } },
    }),
  );
  return { id: num(r.id), name: r.name, token: t.token };
}

export async function setRunnerState(prisma: PrismaClient, name: string, action: "drain" | "undrain" | "revoke") {
  const now = new Date();
  const r0 = await prisma.runner.findUnique({ where: { name } });
  if (!r0) throw new AdminError(`no runner ${name}`);
  // Repeats keep the first drain or revocation time.
  const data = action === "drain" ? { drainingAt: r0.drainingAt ?? now } : action === "undrain" ? { drainingAt: null } : { revokedAt: r0.revokedAt ?? now };
  const r = await prisma.runner.update({ where: { name }, data });
  return { id: num(r.id), name, draining: r.drainingAt !== null, revoked: r.revokedAt !== null };
}
