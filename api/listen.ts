import type { Server } from "node:http";
import type { Express } from "express";
import type { Logger } from "../infra/logger.ts";
import type { Phase } from "../infra/shutdown.ts";

/**
 * Serves the app and logs `<label> listening` with the bound port (port 0 picks one; the
 * line is how scripts and benchmarks find it). Returns the shutdown phase that stops
 * accepting and lets requests in flight finish.
 */
export function serve(app: Express, at: { port: number; host: string }, log: Logger, label: string): { server: Server; stopAccepting: Phase } {
  const server = app.listen(at.port, at.host, () => {
    const addr = server.address();
    log.info({ port: typeof addr === "object" && addr ? addr.port : at.port }, `${label} listening`);
  });
  // Longer than the usual load balancer idle timeout (60 s), so the balancer closes first.
  server.keepAliveTimeout = 65_000;
  const stopAccepting: Phase = ["stop accepting", () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  })];
  return { server, stopAccepting };
}
