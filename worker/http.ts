import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "../infra/logger.ts";
import { exposition } from "../infra/metrics.ts";

// The worker's small HTTP side: GET /metrics (Prometheus), /healthz (the process answers)
// and /readyz (Postgres and Redis reachable, migrations applied, not shutting down).

export const DEFAULT_WORKER_PORT = 9464;

export interface WorkerHttpOptions {
  /** Undefined: DEFAULT_WORKER_PORT, or a random port if that one is taken (several workers on one host). 0: random. */
  port: number | undefined;
  host?: string;
  registry: Registry;
  /** Null when ready; otherwise why not. */
  readiness: () => Promise<string | null>;
  log: Logger;
}

export interface WorkerHttp {
  server: Server;
  port: number;
  /** From now on /readyz answers 503 "shutting down" (the first phase of a graceful stop). */
  stopReporting(): void;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
  res.end(JSON.stringify(body));
}

function listen(server: Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      server.off("listening", onListening);
      reject(e);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

export async function startWorkerHttp(opts: WorkerHttpOptions): Promise<WorkerHttp> {
  let stopping = false;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return json(res, 405, { error: "method not allowed" });
    }
    switch (path) {
      case "/healthz":
        return json(res, 200, { status: "ok" });
      case "/readyz": {
        const reason = stopping ? "shutting down" : await opts.readiness();
        return reason === null ? json(res, 200, { status: "ready" }) : json(res, 503, { error: "not ready", reason });
      }
      case "/metrics": {
        const { contentType, body } = await exposition(opts.registry);
        res.writeHead(200, { "Content-Type": contentType, "Cache-Control": "no-store" });
        return res.end(body);
      }
      default:
        return json(res, 404, { error: "not found" });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      opts.log.error({ err: e.message, path: req.url }, "worker http request failed");
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  const host = opts.host ?? "0.0.0.0";
  try {
    await listen(server, opts.port ?? DEFAULT_WORKER_PORT, host);
  } catch (e) {
    // Only the default port gives way: an explicit WORKER_PORT that is taken is an error.
    if (opts.port !== undefined || (e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
    opts.log.warn({ port: DEFAULT_WORKER_PORT }, "default worker http port in use (another worker on this host?): listening on a random port");
    await listen(server, 0, host);
  }
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ port }, "worker http listening");
  return {
    server,
    port,
    stopReporting() {
      stopping = true;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeIdleConnections();
        // A scraper holding a request open does not hold the shutdown.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
    },
  };
}
