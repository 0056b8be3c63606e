import * as ops from "../admin/ops.ts";
import type { PrismaClient } from "../infra/db.ts";

// The demo world `npm start` and `npm run demo` work in: user `demo`, repository
// `demo/hello` and a workflow whose second job runs long enough to be cancelled.

export const DEMO_SHA = "de0000000000000000000000000000000000de01";
export const DEMO_FILE = ".shithub/workflows/ci.yml";
export const DEMO_WORKFLOW = `name: CI
on: push
jobs:
  build:
    name: Build
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - name: Compile
        run: echo "compiling"; sleep 1; echo "done"
  test:
    name: Test
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - name: Long test suite
        run: echo "running tests"; sleep 600
`;

async function ensure<T>(f: () => Promise<T>): Promise<T | null> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof ops.AdminError && /already exists/.test(e.message)) return null;
    throw e;
  }
}

/** Idempotent: creates what is missing and mints a fresh token (tokens are shown once). */
export async function seedDemo(prisma: PrismaClient): Promise<{ token: string; created: boolean }> {
  const created = (await ensure(() => ops.createUser(prisma, { login: "demo" }))) !== null;
  await ensure(() => ops.createRepo(prisma, { owner: "demo", name: "hello" }));
  await ops.pushWorkflow(prisma, { repo: "demo/hello", file: DEMO_FILE, sha: DEMO_SHA, content: DEMO_WORKFLOW });
  const { token } = await ops.createToken(prisma, {
    user: "demo", scopes: ["repo:write"], expiresInDays: 7, name: `demo-${new Date().toISOString()}`,
  });
  return { token, created };
}

export function demoRun(prisma: PrismaClient) {
  return ops.createRunFromSource(prisma, { repo: "demo/hello", workflowFile: DEMO_FILE, headSha: DEMO_SHA });
}
