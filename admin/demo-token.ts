import type { PrismaClient } from "../infra/db.ts";
import { seedDemo } from "../scripts/seed.ts";

// `admin demo-token`: a fresh token for the demo world `npm start` seeds, the same kind its
// banner prints (repo:write on the demo repository, 7 days), so the README's commands can
// take one with `TOKEN=$(npm run -s admin -- demo-token)` however long ago the banner
// scrolled away. Seeding is idempotent: on an empty database it creates the demo world.

/** Who seedDemo (scripts/seed.ts) creates and gives the token to. */
const DEMO_USER = "demo";
const DEMO_REPO = "demo/hello";

export type DemoToken = { token: string; user: string; repo: string; scopes: string[] };

export async function demoToken(prisma: PrismaClient): Promise<DemoToken> {
  const { token } = await seedDemo(prisma);
  return { token, user: DEMO_USER, repo: DEMO_REPO, scopes: ["repo:write"] };
}
