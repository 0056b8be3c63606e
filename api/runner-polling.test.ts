import { describe, expect, it } from "vitest";
import { RunnerWaiters } from "./runner-polling.ts";
import type { Logger } from "../infra/logger.ts";
import type { Sql } from "../infra/sql.ts";

// The waiters' own life, without Redis or Postgres: no subscriber, and nothing here probes.
const waiters = () => new RunnerWaiters({ sql: {} as Sql, log: {} as Logger, subscriber: null, channel: "t:events" });
const HOUR = 3_600_000;

describe("RunnerWaiters", () => {
  it("close() ends every held wait as aborted", async () => {
    const w = waiters();
    const held = [w.wait(["linux"], HOUR, new AbortController().signal), w.wait(["gpu"], HOUR, new AbortController().signal)];
    expect(w.size).toBe(2);
    w.close();
    expect(await Promise.all(held)).toEqual(["aborted", "aborted"]);
    expect(w.size).toBe(0);
  });

  // A runner's kept-alive connection can carry a new heartbeat after the API began to stop;
  // held, it would keep the shutdown's first phase waiting past its deadline.
  it("after close(), a new wait is not held", async () => {
    const w = waiters();
    w.close();
    expect(await w.wait(["linux"], HOUR, new AbortController().signal)).toBe("aborted");
    expect(w.size).toBe(0);
  }, 2_000);

  it("an aborted signal ends its wait and only its own", async () => {
    const w = waiters();
    const ac = new AbortController();
    const mine = w.wait(["linux"], HOUR, ac.signal);
    const other = w.wait(["linux"], HOUR, new AbortController().signal);
    ac.abort();
    expect(await mine).toBe("aborted");
    expect(w.size).toBe(1);
    w.close();
    expect(await other).toBe("aborted");
  });
});
