import { describe, expect, it } from "vitest";
import { decideAppend, endedMessage, type AppendDecision, type AppendRow } from "./steps.ts";

describe("decideAppend", () => {
  const row = (r: Partial<AppendRow>): AppendRow => ({ found: true, inserted: false, prior: null, fits: true, ended: null, ...r });
  const cases: [string, AppendRow, AppendDecision][] = [
    ["no such step in the job", row({ found: false }), { kind: "not_found" }],
    ["stored", row({ inserted: true }), { kind: "ok", changed: true }],
    ["a retry of the stored chunk", row({ prior: "line" }), { kind: "ok", changed: false }],
    ["a retry of the stored chunk, log full", row({ prior: "line", fits: false }), { kind: "ok", changed: false }],
    ["other content under the seq", row({ prior: "other" }), { kind: "conflict", message: "log chunk 7 already written" }],
    ["other content under the seq, log full", row({ prior: "other", fits: false }), { kind: "conflict", message: "log chunk 7 already written" }],
    ["a new chunk that does not fit", row({ fits: false }), { kind: "limit" }],
    ["lost a race for the seq", row({}), { kind: "reread" }],
    ["a new chunk after the job ended", row({ ended: "job" }), { kind: "conflict", message: endedMessage("job") }],
    ["a new chunk after its step ended", row({ ended: "step" }), { kind: "conflict", message: endedMessage("step") }],
    ["a new chunk after the end, log full", row({ ended: "job", fits: false }), { kind: "conflict", message: endedMessage("job") }],
    ["a retry of the stored chunk after the end", row({ prior: "line", ended: "job" }), { kind: "ok", changed: false }],
    ["other content under the seq after the end", row({ prior: "other", ended: "step" }), { kind: "conflict", message: "log chunk 7 already written" }],
  ];
  it.each(cases)("%s", (_name, r, want) => {
    expect(decideAppend(r, "line", 7)).toEqual(want);
  });
});
