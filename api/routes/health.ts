import { Router } from "express";

/** Liveness says the process answers; readiness says it can do its job right now. */
export function healthRoutes(ready: () => Promise<string | null>): Router {
  const r = Router();
  r.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  r.get("/readyz", async (_req, res) => {
    const reason = await ready();
    if (reason === null) res.json({ status: "ready" });
    else res.status(503).json({ error: "not ready", reason });
  });
  return r;
}
