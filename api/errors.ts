import type { ErrorRequestHandler } from "express";
import { isTransientDbError } from "../infra/db.ts";
import type { Logger } from "../infra/logger.ts";

/** An error that is an answer: it carries its status, message and headers. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const badRequest = (msg: string) => new HttpError(400, msg);
export const notFound = (what: string) => new HttpError(404, `${what} not found`);
export const conflict = (msg: string) => new HttpError(409, msg);
export const unprocessable = (msg: string, extra: Record<string, unknown> = {}) => new HttpError(422, msg, {}, extra);
export const unavailable = (msg: string, retryAfterS: number, extra: Record<string, unknown> = {}) =>
  new HttpError(503, msg, { "Retry-After": String(retryAfterS) }, extra);

export function invalidToken(reason: string): HttpError {
  return new HttpError(401, reason, {
    "WWW-Authenticate": `Bearer realm="shithub", error="invalid_token", error_description="${reason}"`,
  });
}

export function unauthenticated(): HttpError {
  return new HttpError(401, "unauthenticated", { "WWW-Authenticate": 'Bearer realm="shithub"' });
}

// body-parser marks its own errors with a type; these are the client's fault.
const BODY_ERRORS: Record<string, [number, string]> = {
  "entity.too.large": [413, "request body too large"],
  "entity.parse.failed": [400, "malformed JSON body"],
  "encoding.unsupported": [415, "unsupported content encoding"],
  "charset.unsupported": [415, "unsupported charset"],
  "request.aborted": [400, "request aborted"],
  "entity.verify.failed": [400, "malformed body"],
  "request.size.invalid": [400, "request size did not match content length"],
  "stream.encoding.set": [500, "internal error"],
};

/** Where GitHub's dialect is served (docs/github-api.md): its errors take GitHub's shape. */
export const isGitHubPath = (path: string) => path === "/api/v3" || path.startsWith("/api/v3/") || path === "/api/graphql";

/**
 * An error's body in the request's dialect: ours is `{"error", ...details}`; GitHub's is
 * `{"message", "documentation_url", "status"}` (status as a string, as GitHub sends it),
 * with the same details beside them.
 */
export function errorBody(path: string, status: number, message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  if (!isGitHubPath(path)) return { error: message, ...extra };
  return { message, documentation_url: "/docs#tag/github", status: String(status), ...extra };
}

/** The one place errors become HTTP. Unknown errors are logged, never shown. */
export function errorMiddleware(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) return;
    const send = (status: number, message: string, extra?: Record<string, unknown>) => res.status(status).json(errorBody(req.path, status, message, extra));
    if (err instanceof HttpError) {
      res.set(err.headers);
      send(err.status, err.message, err.extra);
      return;
    }
    const type = (err as { type?: unknown }).type;
    if (typeof type === "string" && BODY_ERRORS[type]) {
      const [status, message] = BODY_ERRORS[type];
      send(status, message);
      return;
    }
    const status = (err as { status?: unknown }).status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      send(status, "bad request");
      return;
    }
    // The database is away (restart, failover): the request did nothing, and a retry will do.
    if (isTransientDbError(err)) {
      log.warn({ err: (err as Error).message?.split("\n").pop(), path: req.path, request_id: res.locals.requestId }, "database unavailable");
      res.set("Retry-After", "2");
      send(503, "database unavailable; retry later");
      return;
    }
    log.error({ err, method: req.method, path: req.path, request_id: res.locals.requestId }, "unhandled error");
    send(500, "internal error");
  };
}
