import type { IncomingHttpHeaders } from "node:http";
import type { Request, RequestHandler } from "express";
import { hasNoNul, NUL_MESSAGE } from "../infra/text.ts";
import { badRequest, HttpError } from "./errors.ts";

// A body the JSON parser skips would reach the routes as "no body", i.e. every option at
// its default: `curl -d 'dry_run=true'` sent a form and got a real bulk cancel. So a
// mutating request that carries a body must say it is JSON, or nothing is applied.

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const UNSUPPORTED_BODY = "Content-Type must be application/json";

/** Whether the request carries a body at all (bare POSTs, `curl -X POST`, have none). */
export function carriesBody(h: IncomingHttpHeaders): boolean {
  if (h["transfer-encoding"] !== undefined) return true;
  const length = h["content-length"];
  return length !== undefined && Number(length) > 0;
}

/**
 * `application/json`, with any parameters (`; charset=utf-8`; body-parser then refuses a
 * charset other than UTF-8 with its own 415). Only that type: `application/*+json` types
 * (merge-patch, problem+json…) carry other semantics than the plain objects we read.
 */
export function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  return contentType.split(";", 1)[0]!.trim().toLowerCase() === "application/json";
}

export type BodyVerdict = { kind: "accept" } | { kind: "refuse"; status: 415; message: string };

export function bodyVerdict(method: string, h: IncomingHttpHeaders): BodyVerdict {
  if (!MUTATING.has(method) || !carriesBody(h) || isJson(h["content-type"])) return { kind: "accept" };
  return { kind: "refuse", status: 415, message: UNSUPPORTED_BODY };
}

/** Before the JSON parser and any route: a refused body is never read. */
export function jsonBodiesOnly(): RequestHandler {
  return (req, _res, next) => {
    const v = bodyVerdict(req.method, req.headers);
    if (v.kind === "refuse") throw new HttpError(v.status, v.message);
    next();
  };
}

/** The media types express.json parses: exactly the ones jsonBodiesOnly lets through. */
export const JSON_TYPES = ["application/json"];

/** A path parameter that reaches SQL as text: a NUL in it (`%00`) is a 400 naming it. */
export function pathText(req: Request, name: string): string {
  const v = String(req.params[name] ?? "");
  if (!hasNoNul(v)) throw badRequest(`invalid path: ${name}: ${NUL_MESSAGE}`);
  return v;
}
