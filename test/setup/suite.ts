import { afterAll, beforeAll } from "vitest";
import { createTestDb, type TestDb } from "./db.ts";
import { expectInvariants } from "./invariants.ts";
import { startStack, type Stack, type StackOptions } from "./stack.ts";
import { buildWorld } from "./world.ts";

export interface WorldSuite {
  db: TestDb;
  stack: Stack;
  world: Awaited<ReturnType<typeof buildWorld>>;
}

/**
 * The usual integration test file: its own database with the permission-matrix world,
 * an in-process API and worker, and at the end a check that every invariant still holds.
 */
export function worldSuite(label: string, opts: StackOptions = {}): WorldSuite {
  const s = {} as WorldSuite;
  beforeAll(async () => {
    s.db = await createTestDb(label);
    s.stack = await startStack(s.db, opts);
    s.world = await buildWorld(s.db.prisma);
  });
  afterAll(async () => {
    if (s.db) await expectInvariants(s.db);
    await s.stack?.stop();
    await s.db?.drop();
  });
  return s;
}
