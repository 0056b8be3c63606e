import { createHash } from "node:crypto";
// What a request for a repository's runs asks for (docs/api.md, "Lists"), decided from the
// query string alone: filters, page size and where the page starts. Pure; the SQL that
// answers it is domain/data/lists.ts.

import { CONCLUSIONS, type Conclusion, type RunStatus } from "../lifecycle/types.ts";

export const RUN_STATUSES: readonly RunStatus[] = ["queued", "running", "completed"];

export const PER_PAGE_DEFAULT = 30;
export const PER_PAGE_MAX = 100;

/** A half-open interval [from, to) of created_at; either end may be open. */
export interface CreatedRange {
  from: Date | null;
  to: Date | null;
}

/** Where a page starts: strictly after this run in the order (created_at desc, id desc). */
export interface Cursor {
  createdAt: Date;
  id: bigint;
}

export interface RunFilters {
  status?: RunStatus;
  conclusion?: Conclusion;
  /** A branch name without `refs/heads/`; matches head_ref stored either way. */
  branch?: string;
  event?: string;
  headSha?: string;
  actor?: string;
  created?: CreatedRange;
}

export interface ListQuery {
  filters: RunFilters;
  perPage: number;
  after: Cursor | null;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; param: string; message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
type Refusal = { ok: false; param: string; message: string };
const bad = (param: string, message: string): Refusal => ({ ok: false, param, message: `${param}: ${message}` });

const KNOWN = new Set(["status", "conclusion", "branch", "event", "head_sha", "actor", "created", "per_page", "cursor"]);
const DAY_MS = 86_400_000;
const MAX_ID = (1n << 63n) - 1n;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
// A time of day, with seconds and fractions optional, and a zone (UTC when none is given).
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$/;

/** A point in time as the interval it names: a date is its whole day (UTC), a time its millisecond. */
export function parseInstant(text: string): CreatedRange | null {
  const d = DATE.exec(text);
  if (d) {
    const ms = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]));
    // Date.UTC rolls 2026-02-30 over into March: such a date does not exist.
    if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text) return null;
    return { from: new Date(ms), to: new Date(ms + DAY_MS) };
  }
  if (!DATETIME.test(text)) return null;
  const zoned = /(Z|[+-]\d{2}:\d{2})$/.test(text) ? text : `${text}Z`;
  const ms = Date.parse(zoned);
  if (Number.isNaN(ms)) return null;
  return { from: new Date(ms), to: new Date(ms + 1) };
}

/**
 * GitHub's `created` syntax: `>=X`, `>X`, `<=X`, `<X`, `X..Y` (either side `*`), or a bare X;
 * X a date (its whole day, UTC) or an RFC 3339 time.
 */
export function parseCreated(text: string): Parsed<CreatedRange> {
  const fail = bad("created", `expected a date (2026-01-01), a time, ">=DATE", "<DATE" or "DATE..DATE"; got ${JSON.stringify(text.slice(0, 64))}`);
  const op = /^(>=|<=|>|<)(.+)$/.exec(text);
  let range: CreatedRange | null;
  if (op) {
    const v = parseInstant(op[2]!);
    if (v === null) return fail;
    range = op[1] === ">=" ? { from: v.from, to: null } : op[1] === ">" ? { from: v.to, to: null } : op[1] === "<" ? { from: null, to: v.from } : { from: null, to: v.to };
  } else if (text.includes("..")) {
    const [a, b, ...rest] = text.split("..");
    if (rest.length > 0 || a === undefined || b === undefined) return fail;
    const lo = a === "*" ? { from: null, to: null } : parseInstant(a);
    const hi = b === "*" ? { from: null, to: null } : parseInstant(b);
    if (lo === null || hi === null) return fail;
    range = { from: lo.from, to: hi.to };
  } else {
    range = parseInstant(text);
    if (range === null) return fail;
  }
  if (range.from !== null && range.to !== null && range.from >= range.to) return bad("created", "the range ends before it starts");
  return ok(range);
}

// The cursor is opaque to clients: base64url of `<created_at ms>.<id>.<check>`. The check
// (a digest of the rest) catches a cursor cut short or mistyped, which would otherwise
// still parse and silently start the page elsewhere. It is not a signature: a made-up
// cursor can only start a page of the list the caller may already read.
const check = (body: string) => createHash("sha256").update(`runs-cursor:${body}`).digest("base64url").slice(0, 8);

export function encodeCursor(c: Cursor): string {
  const body = `${c.createdAt.getTime()}.${c.id}`;
  return Buffer.from(`${body}.${check(body)}`).toString("base64url");
}

export function decodeCursor(text: string): Parsed<Cursor> {
  const fail = bad("cursor", "not a cursor this API gave out (take it from a Link header, unchanged)");
  if (!/^[A-Za-z0-9_-]{1,96}$/.test(text)) return fail;
  const m = /^((\d{1,15})\.(\d{1,19}))\.([A-Za-z0-9_-]{8})$/.exec(Buffer.from(text, "base64url").toString("latin1"));
  if (!m || check(m[1]!) !== m[4]) return fail;
  const id = BigInt(m[3]!);
  const at = new Date(Number(m[2]));
  if (id < 1n || id > MAX_ID || Number.isNaN(at.getTime())) return fail;
  return ok({ createdAt: at, id });
}

function oneOf<T extends string>(param: string, text: string, allowed: readonly T[]): Parsed<T> {
  return (allowed as readonly string[]).includes(text) ? ok(text as T) : bad(param, `expected one of ${allowed.join(", ")}; got ${JSON.stringify(text.slice(0, 64))}`);
}

function matching(param: string, text: string, re: RegExp, what: string): Parsed<string> {
  return re.test(text) ? ok(text) : bad(param, `expected ${what}`);
}

// Git's branch names are wide; these bounds only keep out what no ref can hold.
const BRANCH = /^(?!.*\.\.)[^\s\u0000-\u001f~^:?*[\\]{1,255}$/;

/** Each filter by itself; the caller has already refused repeats and unknown names. */
function filterOf(name: string, text: string, into: RunFilters): Refusal | null {
  const set = <K extends keyof RunFilters>(k: K, p: Parsed<RunFilters[K] & {}>) => (p.ok ? ((into[k] = p.value), null) : p);
  switch (name) {
    case "status": return set("status", oneOf(name, text, RUN_STATUSES));
    case "conclusion": return set("conclusion", oneOf(name, text, CONCLUSIONS));
    case "branch": return set("branch", matching(name, text.replace(/^refs\/heads\//, ""), BRANCH, "a branch name (main or refs/heads/main)"));
    case "event": return set("event", matching(name, text, /^[a-z_]{1,64}$/, "an event name such as push"));
    case "head_sha": return set("headSha", matching(name, text.toLowerCase(), /^[0-9a-f]{4,64}$/, "a commit sha (hexadecimal)"));
    case "actor": return set("actor", matching(name, text, /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "a user login"));
    case "created": return set("created", parseCreated(text));
    default: return null;
  }
}

/** The query string as Express parsed it: each value a string, an array (repeated) or an object (a[b]=). */
export function parseListQuery(query: Record<string, unknown>): Parsed<ListQuery> {
  const out: ListQuery = { filters: {}, perPage: PER_PAGE_DEFAULT, after: null };
  for (const [name, raw] of Object.entries(query)) {
    if (!KNOWN.has(name)) return bad(name.slice(0, 64), `unknown parameter (known: ${[...KNOWN].join(", ")})`);
    if (typeof raw !== "string") return bad(name, "give it once, as plain text");
    if (name === "per_page") {
      if (!/^\d{1,3}$/.test(raw) || Number(raw) < 1 || Number(raw) > PER_PAGE_MAX) return bad(name, `expected a whole number from 1 to ${PER_PAGE_MAX}`);
      out.perPage = Number(raw);
    } else if (name === "cursor") {
      const c = decodeCursor(raw);
      if (!c.ok) return c;
      out.after = c.value;
    } else {
      const failed = filterOf(name, raw, out.filters);
      if (failed) return failed;
    }
  }
  return ok(out);
}
