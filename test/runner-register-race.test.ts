// Self-registration races (docs/security.md, "Runners"): a runner token proves a runner's
// current life once. Two registrations racing with the same proof must not both start a
// new life (the second would silently end the first one's session), on real Postgres.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerOrRotate, type Registration } from "../domain/data/runners.ts";
import { createTestDb, type TestDb } from "./setup/db.ts";

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb("regrace");
});
afterAll(async () => {
  await db?.drop();
});

const registered = (r: Registration) => (r.kind === "registered" ? r : null);

describe("registrations racing with one runner token", () => {
  it("start one new life: the other is refused as live, and the winner's token works", async () => {
    for (let round = 0; round < 5; round++) {
      const name = `race-${round}`;
      const first = registered(await registerOrRotate(db.prisma, { name, labels: ["x"], capacity: 1 }))!;
      const both = await Promise.all([0, 1].map(() => registerOrRotate(db.prisma, { name, labels: ["x"], capacity: 1, currentToken: first.token })));
      expect(both.map((r) => r.kind).sort(), `round ${round}`).toEqual(["live", "registered"]);
      const winner = both.map(registered).find((r) => r !== null)!;
      const { rows } = await db.pool.query(
        "SELECT count(*)::int AS n FROM runner_tokens k JOIN runners r ON r.id = k.runner_id WHERE r.name = $1 AND k.revoked_at IS NULL AND k.token_hash = encode(sha256($2::bytea), 'hex')",
        [name, winner.token]);
      expect(rows[0].n).toBe(1);
    }
  });

  it("refuses a revoked token of that runner as proof", async () => {
    const first = registered(await registerOrRotate(db.prisma, { name: "race-revoked", labels: [], capacity: 1 }))!;
    const second = registered(await registerOrRotate(db.prisma, { name: "race-revoked", labels: [], capacity: 1, currentToken: first.token }))!;
    expect(second.id).toBe(first.id);
    expect((await registerOrRotate(db.prisma, { name: "race-revoked", labels: [], capacity: 1, currentToken: first.token })).kind).toBe("live");
  });
});
