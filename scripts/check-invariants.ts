import { commonEnv, parseConfig } from "../infra/config.ts";
import { createPrisma } from "../infra/db.ts";
import { failClearly, probePostgres } from "../infra/deps.ts";
import { CHECKS, checkInvariants } from "../domain/invariants.ts";
import { driverMessage } from "../infra/readiness.ts";

// `npm run check:invariants`: exit 0 when every invariant holds, else 1 with the list.

failClearly("check:invariants");
const cfg = parseConfig(commonEnv);
// A database that is away or missing is one line naming it (docs/decisions.md, "Failing clearly").
await probePostgres(cfg.DATABASE_URL);
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
  // Prisma's first line is "Invalid `prisma.x()` invocation:"; the reason is the driver's message.
  console.error(`check:invariants failed: ${driverMessage(e)}`);
  process.exitCode = 2;
} finally {
  await prisma.$disconnect();
}
