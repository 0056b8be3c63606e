import { randomBytes } from "node:crypto";
import { defineConfig } from "vitest/config";

// Two projects: fast pure unit tests next to their modules, and integration tests
// under test/ that talk to the real Postgres and Redis (see test/setup/).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          sequence: { groupOrder: 0 },
          include: ["{infra,domain,api,worker,admin,runner-sim}/**/*.test.ts"],
          exclude: ["**/node_modules/**", "infra/generated/**"],
        },
      },
      {
        test: {
          name: "integration",
          // Runs after the unit tests, which take a second and catch most mistakes first.
          sequence: { groupOrder: 1 },
          include: ["test/**/*.test.ts"],
          // The key API and worker processes share to sign intents (a fresh one per run).
          env: { INTENT_SIGNING_KEY: process.env.INTENT_SIGNING_KEY ?? `test-${randomBytes(24).toString("hex")}` },
          globalSetup: ["test/setup/global.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Each file has its own database and queue prefix; files run in parallel
          // on the two cores, tests inside a file run in order.
          maxWorkers: 2,
        },
      },
    ],
  },
});
