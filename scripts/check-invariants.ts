import { commonEnv, parseConfig } from "../core/config.ts";
import { createPrisma } from "../core/db.ts";
import { CHECKS, checkInvariants } from "../core/invariants.ts";

// `npm run check:invariants`: exit 0 when every invariant holds, else 1 with the list.

const cfg = parseConfig(commonEnv);
const prisma = createPrisma(cfg.DATABASE_URL, 1);
try {
  const violations = await checkInvariants(prisma);
  if (violations.length === 0) {
    console.log(`invariants: all ${Object.keys(CHECKS).length} hold`);
  } else {
    for (const v of violations) console.error(`VIOLATED: ${v.check}: ${v.ids.join(", ")}`);
    process.exitCode = 1;
  }
} catch (e) {
  console.error(`check:invariants failed: ${(e as Error).message.split("\n")[0]}`);
  process.exitCode = 2;
} finally {
  await prisma.$disconnect();
}
