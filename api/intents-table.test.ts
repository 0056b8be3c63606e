import { readFileSync } from "node:fs";
import type { Router } from "express";
import { describe, expect, it } from "vitest";
import { expressPath, INTENTS, INTENT_NAMES, intentOfKind, timelineLabel } from "../domain/intents.ts";
import { TIMELINE_ROUTES } from "../domain/data/timeline.ts";
import { PROCESSORS } from "../worker/processors/index.ts";
import { openapiDocument } from "./openapi/index.ts";
import { bulkRoutes } from "./routes/bulk.ts";
import { lifecycleRoutes } from "./routes/lifecycle.ts";
import { rerunRoutes } from "./routes/reruns.ts";
import { runRoutes } from "./routes/runs.ts";
import type { IntentRouteDeps } from "./submit.ts";

// The one table of intents (domain/intents.ts) against everything that serves, applies,
// records, lists and documents an intent: none may have one the table lacks, or lack one.

type Layer = { route?: { path: string; methods: Record<string, boolean> } };
const deps = {} as IntentRouteDeps; // Mounting reads no dependency; only requests would.
const mounted = (r: Router) =>
  (r.stack as Layer[]).flatMap((l) => (l.route ? Object.keys(l.route.methods).map((m) => `${m} ${l.route!.path}`) : []));
const ROUTES = new Set([lifecycleRoutes, rerunRoutes, runRoutes, bulkRoutes].flatMap((f) => mounted(f(deps))));

const doc = openapiDocument() as { paths: Record<string, Record<string, { operationId: string; summary: string; security: unknown }>> };
const schemaKinds = (() => {
  const m = /enum IntentKind \{([^}]*)\}/.exec(readFileSync(new URL("../prisma/schema.prisma", import.meta.url), "utf8"));
  return m![1]!.split("\n").map((l) => l.trim()).filter((l) => /^[a-z_]+$/.test(l));
})();

describe("the table of intents", () => {
  it.each(INTENT_NAMES)("%s has a processor, a route, a timeline label, an OpenAPI operation and a record kind", (name) => {
    const d = INTENTS[name];
    expect(PROCESSORS[name], "processor").toBeTypeOf("function");
    expect(ROUTES.has(`${d.method} ${expressPath(d.path)}`), "route").toBe(true);
    expect(TIMELINE_ROUTES[d.kind], "timeline label").toBe(timelineLabel(d));
    const op = doc.paths[d.path]?.[d.method];
    expect(op, "OpenAPI operation").toBeDefined();
    expect({ operationId: op!.operationId, summary: op!.summary, security: op!.security }).toEqual({
      operationId: d.operationId, summary: d.summary, security: [{ pat: [d.scope] }, { patBasic: [d.scope] }],
    });
    expect(schemaKinds, "intent_kind enum").toContain(d.kind);
    expect(intentOfKind(d.kind)).toBe(d);
  });

  it("names and kinds are one to one, and every recorded kind is an intent's", () => {
    expect(new Set(INTENT_NAMES.map((n) => INTENTS[n].kind)).size).toBe(INTENT_NAMES.length);
    expect([...schemaKinds].sort()).toEqual(INTENT_NAMES.map((n) => INTENTS[n].kind).sort());
    expect(Object.keys(PROCESSORS).sort()).toEqual([...INTENT_NAMES].sort());
  });

  it("the router's form of a path", () => {
    expect(expressPath("/api/v1/repos/{owner}/{repo}/actions/runs/cancel")).toBe("/api/v1/repos/:owner/:repo/actions/runs/cancel");
    expect(timelineLabel(INTENTS["cancel-job"])).toBe("POST /api/v1/jobs/{id}/cancel");
  });
});
