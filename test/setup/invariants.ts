import { expect } from "vitest";
import { checkInvariants } from "../../core/invariants.ts";
import type { TestDb } from "./db.ts";

/** Every test file that changes lifecycle state ends by proving the invariants hold. */
export async function expectInvariants(db: TestDb): Promise<void> {
  expect(await checkInvariants(db.prisma)).toEqual([]);
}
