import { describe, expect, it } from "vitest";
import { HookGate } from "./gate.ts";

describe("HookGate", () => {
  it("admits perHook deliveries of one hook, others' independently, and frees a slot on leave", () => {
    const g = new HookGate(2);
    expect([g.tryEnter(1n), g.tryEnter(1n), g.tryEnter(1n)]).toEqual([true, true, false]);
    expect(g.tryEnter(2n)).toBe(true);
    g.leave(1n);
    expect(g.tryEnter(1n)).toBe(true);
    expect(g.tryEnter(1n)).toBe(false);
  });
});
