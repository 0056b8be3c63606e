import { expect } from "vitest";
import { checkInvariants } from "../../domain/invariants.ts";
import type { TestDb } from "./db.ts";

/** Every test file that changes lifecycle state ends by proving the invariants hold. */
export async function expectInvariants(db: TestDb): Promise<void> {
  expect(await checkInvariants(db.prisma)).toEqual([]);
}
