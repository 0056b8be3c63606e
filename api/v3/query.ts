import { parseListQuery, PER_PAGE_MAX } from "../../domain/data/list-query.ts";
import type { ChainFilters } from "../../domain/data/github.ts";
import { CONCLUSIONS, type Conclusion } from "../../domain/lifecycle/types.ts";

// GitHub's query parameters for listing runs (docs/github-api.md, "Lists"), decided from
// the query string alone. The filters they share with the native list are parsed by its
// parser, so the two dialects accept the same values; GitHub's `status` takes a status or
// a conclusion, pages go by number, and parameters GitHub would ignore are ignored here.

export interface GitHubListQuery {
  filters: ChainFilters;
  page: number;
  perPage: number;
}

export type GitHubParsed = { ok: true; value: GitHubListQuery } | { ok: false; message: string };

const SHARED = ["branch", "event", "head_sha", "actor", "created", "per_page"];
/** GitHub statuses no run of ours is in: a run waits for a runner while `queued`. */
const NEVER = new Set(["requested", "waiting", "pending", "stale"]);

function statusFilter(v: string): Pick<ChainFilters, "status" | "conclusion" | "never"> | null {
  if (v === "queued") return { status: "queued" };
  if (v === "in_progress") return { status: "running" };
  if (v === "completed") return { status: "completed" };
  if ((CONCLUSIONS as readonly string[]).includes(v)) return { conclusion: v as Conclusion };
  return NEVER.has(v) ? { never: true } : null;
}

export function parseGitHubListQuery(query: Record<string, unknown>): GitHubParsed {
  const shared: Record<string, unknown> = {};
  for (const k of SHARED) if (query[k] !== undefined && query[k] !== "") shared[k] = query[k];
  const parsed = parseListQuery(shared);
  if (!parsed.ok) return { ok: false, message: parsed.message };
  const filters: ChainFilters = { ...parsed.value.filters };
  const status = query.status;
  if (status !== undefined && status !== "") {
    const f = typeof status === "string" ? statusFilter(status) : null;
    if (f === null) return { ok: false, message: `status: not a status or conclusion GitHub knows: ${JSON.stringify(String(status).slice(0, 64))}` };
    Object.assign(filters, f);
  }
  const pageText = query.page;
  let page = 1;
  if (pageText !== undefined && pageText !== "") {
    if (typeof pageText !== "string" || !/^\d{1,7}$/.test(pageText) || Number(pageText) < 1) return { ok: false, message: "page: expected a whole number from 1" };
    page = Number(pageText);
  }
  return { ok: true, value: { filters, page, perPage: parsed.value.perPage } };
}

/** GitHub's Link header for page-numbered lists: next and last while there are more, prev and first after the first. */
export function pageNumberLinks(url: URL, page: number, perPage: number, total: number): string | null {
  const last = Math.max(1, Math.ceil(total / perPage));
  const at = (n: number) => {
    const u = new URL(url);
    u.searchParams.set("page", String(n));
    u.searchParams.set("per_page", String(perPage));
    return u.toString();
  };
  const links: string[] = [];
  if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`);
  if (page > 1) links.push(`<${at(1)}>; rel="first"`, `<${at(Math.min(page - 1, last))}>; rel="prev"`);
  return links.length > 0 ? links.join(", ") : null;
}

export { PER_PAGE_MAX };
