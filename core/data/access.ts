import type { PrismaClient } from "../db.ts";

export interface AuthedToken {
  id: bigint;
  userId: bigint;
  scopes: string[];
  repoId: bigint | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  user: { id: bigint; login: string; suspendedAt: Date | null; isSiteAdmin: boolean };
}

export function findTokenByHash(prisma: PrismaClient, hash: string): Promise<AuthedToken | null> {
  return prisma.personalAccessToken.findUnique({
    where: { tokenHash: hash },
    select: {
      id: true, userId: true, scopes: true, repoId: true, expiresAt: true, revokedAt: true, lastUsedAt: true,
      user: { select: { id: true, login: true, suspendedAt: true, isSiteAdmin: true } },
    },
  });
}

export type Access = "none" | "read" | "write";

const WRITE_ROLES = new Set(["write", "maintain", "admin"]);

/**
 * What a token's user may do on a repository. "none" hides the repository entirely
 * (deleted, private without a role, or the token is bound to another repository).
 */
export async function repoAccess(prisma: PrismaClient, token: AuthedToken, repoId: bigint): Promise<Access> {
  if (token.repoId !== null && token.repoId !== repoId) return "none";
  const repo = await prisma.repo.findUnique({
    where: { id: repoId },
    select: {
      ownerId: true, visibility: true, isArchived: true, deletedAt: true,
      collaborators: { where: { userId: token.userId }, select: { role: true } },
    },
  });
  if (!repo || repo.deletedAt !== null) return "none";
  const role = repo.ownerId === token.userId ? "admin" : repo.collaborators[0]?.role;
  if (role === undefined) return repo.visibility === "public" ? "read" : "none";
  return WRITE_ROLES.has(role) && !repo.isArchived ? "write" : "read";
}
