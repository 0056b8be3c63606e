import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { PrismaClient } from "./db.ts";
import type { Redis } from "./redis.ts";
import { withTimeout } from "./timeout.ts";

const MIGRATIONS = fileURLToPath(new URL("../prisma/migrations", import.meta.url));

/** The newest migration this build expects the database to have. */
function expectedMigration(): string {
  const dirs = readdirSync(MIGRATIONS, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  return dirs[dirs.length - 1] ?? "";
}


/** Null when Postgres and Redis answer and the migrations are applied; else the reason. */
export function readinessCheck(prisma: PrismaClient, redis: Redis): () => Promise<string | null> {
  const expected = expectedMigration();
  return async () => {
    try {
      const rows = await withTimeout(
        prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM _prisma_migrations WHERE migration_name = ${expected} AND finished_at IS NOT NULL`,
        2000,
        "postgres",
      );
      if (rows[0]?.n !== 1) return `migration ${expected} not applied`;
    } catch (e) {
      return `postgres unreachable: ${(e as Error).message.split("\n")[0]}`;
    }
    try {
      await withTimeout(redis.ping(), 2000, "redis");
    } catch (e) {
      return `redis unreachable: ${(e as Error).message}`;
    }
    return null;
  };
}
