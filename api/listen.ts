import { createServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Express } from "express";
import type { TlsFiles } from "../infra/config.ts";
import type { Logger } from "../infra/logger.ts";
import type { Phase } from "../infra/shutdown.ts";

export interface ListenAt {
  port: number;
  host: string;
  /** Serve HTTPS with this certificate and key (docs/operations.md, "HTTPS"); absent or null: plain HTTP. */
  tls?: TlsFiles | null;
}

/**
 * Serves the app and logs `<label> listening` with the bound port (port 0 picks one; the
 * line is how scripts and benchmarks find it). Returns the shutdown phase that stops
 * accepting and lets requests in flight finish.
 */
export function serve(app: Express, at: ListenAt, log: Logger, label: string): { server: HttpServer | HttpsServer; stopAccepting: Phase } {
  const server = at.tls ? createHttpsServer({ cert: at.tls.cert, key: at.tls.key }, app) : createServer(app);
  const tls = at.tls ? { tls: true } : {};
  // No 'error' listener: a port that cannot be bound ends the process (infra/deps.ts, failClearly).
  server.listen(at.port, at.host, () => {
    const addr = server.address();
    log.info({ port: typeof addr === "object" && addr ? addr.port : at.port, ...tls }, `${label} listening`);
  });
  // Longer than the usual load balancer idle timeout (60 s), so the balancer closes first.
  server.keepAliveTimeout = 65_000;
  // close() closes the connections idle at that moment only; one whose answer goes out later
  // (a long-polling heartbeat woken by the shutdown) would then sit out keepAliveTimeout.
  const stopAccepting: Phase = ["stop accepting", () => new Promise<void>((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    sweep.unref();
    server.close(() => {
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  })];
  return { server, stopAccepting };
}
