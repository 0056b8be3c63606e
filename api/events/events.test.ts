import { describe, expect, it } from "vitest";
import type { StreamEvent } from "../../domain/data/events.ts";
import { render } from "../../infra/sqlf.ts";
import { backlogSql, eventsAfterSql } from "../../domain/data/events.ts";
import { filterKey, hintedId, route, type HubListener } from "./hub.ts";
import { framed, parseLastEventId } from "./routes.ts";
import { afterRefusedWrite, sseMessage } from "./stream.ts";

const ev = (id: number, o: Partial<StreamEvent> = {}): StreamEvent => ({
  id: BigInt(id), type: "workflow_job", action: "in_progress", runId: 7n, repoId: 3n, payload: `{"n": ${id}}`, ...o,
});

describe("Last-Event-ID", () => {
  it("is a non-negative integer that fits a bigint, from the header before the query", () => {
    expect(parseLastEventId(undefined, undefined)).toEqual({ ok: true, value: null });
    expect(parseLastEventId("0", undefined)).toEqual({ ok: true, value: 0n });
    expect(parseLastEventId("9223372036854775807", undefined)).toEqual({ ok: true, value: 2n ** 63n - 1n });
    expect(parseLastEventId(undefined, "42")).toEqual({ ok: true, value: 42n });
    expect(parseLastEventId("5", "42")).toEqual({ ok: true, value: 5n });
    for (const bad of ["", "-1", "1.0", "1e3", "0x1", "9223372036854775808", " 1"]) expect(parseLastEventId(bad, undefined).ok, bad).toBe(false);
    expect(parseLastEventId(undefined, ["1", "2"])).toEqual({ ok: false, message: "last_event_id must be a non-negative integer (the id of the last event received)" });
  });
});

describe("framing", () => {
  it("writes id, event and one data line", () => {
    expect(sseMessage(ev(12))).toBe('id: 12\nevent: workflow_job\ndata: {"n": 12}\n\n');
  });

  it("skips what was sent, and stops a run's stream at its completed event", () => {
    const run = { kind: "run", runId: 7n } as const;
    const out = framed([ev(1), ev(2), ev(3, { type: "workflow_run", action: "completed" }), ev(4)], 1n, run);
    expect(out).toEqual({ text: sseMessage(ev(2)) + sseMessage(ev(3, { type: "workflow_run" })), last: 3n, over: true });
    // A repository's stream goes on past a run's end.
    expect(framed([ev(3, { type: "workflow_run", action: "completed" }), ev(4)], 0n, { kind: "repo", repoId: 3n }).over).toBe(false);
    expect(framed([ev(1)], 1n, run)).toEqual({ text: "", last: 1n, over: false });
  });
});

describe("the hub's hand-out", () => {
  it("gives each listener its events in order: by run, and by repository", () => {
    const byRun: HubListener = { filter: { kind: "run", runId: 7n }, deliver: () => {}, end: () => {} };
    const byRepo: HubListener = { filter: { kind: "repo", repoId: 3n }, deliver: () => {}, end: () => {} };
    const listeners = new Map([[filterKey(byRun.filter), new Set([byRun])], [filterKey(byRepo.filter), new Set([byRepo])]]);
    const events = [ev(1), ev(2, { runId: 8n }), ev(3, { repoId: 4n, runId: 9n }), ev(4, { runId: null })];
    const out = route(events, listeners);
    expect(out.get(byRun)?.map((e) => e.id)).toEqual([1n]);
    expect(out.get(byRepo)?.map((e) => e.id)).toEqual([1n, 2n, 4n]);
  });

  it("takes a hint as an id when it is one", () => {
    expect(hintedId("123")).toBe(123n);
    expect(hintedId("x")).toBeNull();
    expect(hintedId("")).toBeNull();
  });
});

describe("back-pressure", () => {
  it("cuts past the bound, else times the stall once", () => {
    const limits = { maxQueuedBytes: 100 };
    expect(afterRefusedWrite(101, limits, false)).toBe("cut");
    expect(afterRefusedWrite(101, limits, true)).toBe("cut");
    expect(afterRefusedWrite(100, limits, false)).toBe("start-timer");
    expect(afterRefusedWrite(100, limits, true)).toBe("wait");
  });
});

describe("the statements", () => {
  it("order by the bigint column, not the text it is read as", () => {
    for (const f of [eventsAfterSql(0n, 10), backlogSql({ kind: "run", runId: 1n }, 0n, 5n, 10), backlogSql({ kind: "repo", repoId: 1n }, 0n, 5n, 10)]) {
      const { text } = render(f);
      expect(text).toMatch(/ORDER BY events\.id LIMIT/);
      expect(text).toMatch(/type <> 'intent'/);
    }
  });
});
