import type { Redis } from "./redis.ts";
import { classifyPg, classifyRedis, formatFailure, type Dep } from "./deps.ts";
import type { Logger } from "./logger.ts";

// While a process runs, a lost dependency is reported once and its return once
// (docs/decisions.md, "Failing clearly"), however many connections retry however often.

/** Which watched connections are down now. */
export type WatchState = readonly string[];
export type WatchEvent = { kind: "down"; source: string } | { kind: "up"; source: string };
export type Report = "lost" | "back" | null;

/** Lost when the first connection goes down, back when the last one is up again. */
export function nextWatch(s: WatchState, e: WatchEvent): { state: WatchState; report: Report } {
  const has = s.includes(e.source);
  if (e.kind === "down") return has ? { state: s, report: null } : { state: [...s, e.source], report: s.length === 0 ? "lost" : null };
  if (!has) return { state: s, report: null };
  const state = s.filter((x) => x !== e.source);
  return { state, report: state.length === 0 ? "back" : null };
}

export interface DependencyWatch {
  down(source: string, e: unknown): void;
  up(source: string): void;
}

export function dependencyWatch(log: Logger, dep: Dep, url: string): DependencyWatch {
  let state: WatchState = [];
  const label = dep === "redis" ? "Redis" : "Postgres";
  return {
    down(source, e) {
      const r = nextWatch(state, { kind: "down", source });
      state = r.state;
      if (r.report === "lost") log.warn({ dependency: dep, source }, `lost: ${formatFailure(dep, url, (dep === "redis" ? classifyRedis : classifyPg)(e, url))}; retrying`);
    },
    up(source) {
      const r = nextWatch(state, { kind: "up", source });
      state = r.state;
      if (r.report === "back") log.info({ dependency: dep }, `back: ${label} answers again`);
    },
  };
}

/** Feeds a Redis connection's errors and reconnects to the watch. */
export function watchRedis(client: Redis, watch: DependencyWatch, source: string): void {
  client.on("error", (e) => watch.down(source, e));
  client.on("ready", () => watch.up(source));
}

/**
 * Postgres has no connection that stays open to watch: one SELECT 1 on the process' own
 * pool every `everyMs` feeds the watch (a timer that never keeps the process alive).
 */
export function watchPostgres(pool: { query(sql: string): Promise<unknown> }, watch: DependencyWatch, everyMs = 5_000): () => void {
  let busy = false;
  const t = setInterval(() => {
    if (busy) return;
    busy = true;
    pool.query("SELECT 1").then(
      () => watch.up("postgres"),
      // A pool ended by the shutdown is not a lost database.
      (e: unknown) => void (/after calling end/.test(String((e as Error)?.message)) || watch.down("postgres", e)),
    ).finally(() => (busy = false));
  }, everyMs);
  t.unref();
  return () => clearInterval(t);
}
