import { describe, expect, it } from "vitest";
import { decideAppend, type AppendDecision, type AppendRow } from "./steps.ts";

describe("decideAppend", () => {
  const row = (r: Partial<AppendRow>): AppendRow => ({ found: true, inserted: false, prior: null, fits: true, ...r });
  const cases: [string, AppendRow, AppendDecision][] = [
    ["no such step in the job", row({ found: false }), { kind: "not_found" }],
    ["stored", row({ inserted: true }), { kind: "ok", changed: true }],
    ["a retry of the stored chunk", row({ prior: "line" }), { kind: "ok", changed: false }],
    ["a retry of the stored chunk, log full", row({ prior: "line", fits: false }), { kind: "ok", changed: false }],
    ["other content under the seq", row({ prior: "other" }), { kind: "conflict", message: "log chunk 7 already written" }],
    ["other content under the seq, log full", row({ prior: "other", fits: false }), { kind: "conflict", message: "log chunk 7 already written" }],
    ["a new chunk that does not fit", row({ fits: false }), { kind: "limit" }],
    ["lost a race for the seq", row({}), { kind: "reread" }],
  ];
  it.each(cases)("%s", (_name, r, want) => {
    expect(decideAppend(r, "line", 7)).toEqual(want);
  });
});
