/**
 * Which level a request's log line gets. A runner's polling — heartbeats that claim nothing,
 * cancel-checks — and probes (health checks, metrics scrapes) repeat every few seconds for as
 * long as the system runs; at info they were nine lines in ten of an idle system's log and
 * buried everything else. They log at debug unless they fail; every other request keeps one
 * info line (docs/operations.md, "Logs").
 */
export type RequestLevel = "debug" | "info";

export interface RequestFacts {
  method: string;
  path: string;
  status: number;
}

const POLLING: readonly { method: string; path: RegExp; status: readonly number[] }[] = [
  // 204: nothing claimed. A heartbeat that hands out a job (200) is an event worth a line.
  { method: "POST", path: /^\/api\/v1\/runners\/heartbeat$/, status: [204] },
  { method: "POST", path: /^\/api\/v1\/jobs\/\d+\/cancel-check$/, status: [200] },
  { method: "GET", path: /^\/(healthz|readyz|metrics)$/, status: [200] },
];

export function requestLevel(r: RequestFacts): RequestLevel {
  const polling = POLLING.some((p) => p.method === r.method && p.path.test(r.path) && p.status.includes(r.status));
  return polling ? "debug" : "info";
}
