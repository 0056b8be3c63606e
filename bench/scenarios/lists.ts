import type pg from "pg";
import { httpClient } from "../lib/http.ts";
import { closedLoop, type LoadResult } from "../lib/load.ts";
import { withPg } from "../lib/data.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult, type Table } from "../lib/types.ts";

// A page of GET /repos/{owner}/{repo}/actions/runs as the repository grows (docs/api.md,
// "Lists"): the first page, a page deep in the list (by cursor) and a filtered page, at
// concurrency 1, at 10k and at 1M runs of one repository. Keyset pages on the list
// indexes should cost the same at both; a ratio that grows with the data means a page
// started sorting or skipping rows. GitHub's dialect pages by number and counts every
// match for total_count, so its pages are measured beside them: they grow with the data.

interface Level {
  runs: number;
  seedSeconds: number;
  pages: Record<string, { requests: number; errors: number; p50: number; p99: number; ratioToFirst: number }>;
}

const LIST = "/api/v1/repos/bench/repo/actions/runs";
const V3_LIST = "/api/v3/repos/bench/repo/actions/runs";
const secondsSince = (t: number) => +((performance.now() - t) / 1000).toFixed(1);

/** `n` more completed runs (no jobs: a list reads runs only), one a minute back from 2026. */
async function grow(c: pg.Client, repoId: bigint, from: number, n: number): Promise<void> {
  await c.query(
    `INSERT INTO workflow_runs (repo_id, run_index, workflow_file, workflow_name, head_sha, head_ref, event, status, conclusion, completed_at, created_at)
     SELECT $1::bigint, i, '.shithub/workflows/bench.yml', 'Bench', lpad(to_hex(i), 40, '0'),
       CASE WHEN i % 4 = 0 THEN 'feature' ELSE 'main' END, 'push', 'completed',
       (CASE WHEN i % 10 = 0 THEN 'failure' ELSE 'success' END)::conclusion,
       timestamptz '2026-01-01' + i * interval '1 minute', timestamptz '2026-01-01' + i * interval '1 minute'
     FROM generate_series($2::int + 1, $2::int + $3::int) i`,
    [repoId.toString(), from, n],
  );
  await c.query(`UPDATE repos SET next_run_index = $2::int + 1 WHERE id = $1::bigint`, [repoId.toString(), from + n]);
  await c.query("VACUUM (ANALYZE) workflow_runs");
}

/** A cursor half-way down the list: the page after it is as far from either end as can be. */
async function middleCursor(stack: Stack, client: ReturnType<typeof httpClient>, runs: number): Promise<string> {
  const headers = { authorization: `Bearer ${stack.token}` };
  // Run index runs/2 was created at minute runs/2; the page before it ends there.
  const created = new Date(Date.UTC(2026, 0, 1) + Math.floor(runs / 2) * 60_000).toISOString();
  const r = await client.request("GET", `${stack.apis[0]}${LIST}?per_page=1&created=${encodeURIComponent(`<=${created}`)}`, headers);
  const cursor = (JSON.parse(r.body) as { next_cursor: string | null }).next_cursor;
  if (r.status !== 200 || !cursor) throw new Error(`lists: no cursor half-way down (${r.status} ${r.body.slice(0, 200)})`);
  return cursor;
}

async function measure(stack: Stack, runs: number, requests: number): Promise<Record<string, LoadResult>> {
  const client = httpClient(4);
  const headers = { authorization: `Bearer ${stack.token}` };
  const pages: Record<string, string> = {
    "first page": `${LIST}`,
    "middle page (cursor)": `${LIST}?cursor=${await middleCursor(stack, client, runs)}`,
    "conclusion=failure&branch=main": `${LIST}?conclusion=failure&branch=main`,
    // GitHub's dialect: the same first page, with the total_count its body carries.
    "/api/v3 first page (with total_count)": V3_LIST,
    "/api/v3 status=failure&branch=main": `${V3_LIST}?status=failure&branch=main`,
  };
  const out: Record<string, LoadResult> = {};
  for (const [name, path] of Object.entries(pages)) {
    out[name] = await closedLoop({
      concurrency: 1, total: requests, warmup: Math.min(50, requests / 10),
      fire: async () => (await client.request("GET", `${stack.apis[0]}${path}`, headers)).status === 200,
    });
  }
  client.close();
  return out;
}

const k = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);

function table(levels: Level[], quick: boolean): Table {
  const names = Object.keys(levels[0]!.pages);
  return {
    title: "GET /repos/{owner}/{repo}/actions/runs, 30 runs a page, concurrency 1, as the repository grows (ms)",
    columns: ["runs in the repository", "seed s", "page", "requests", "errors", "p50", "p99", `p50 / p50(${k(levels[0]!.runs)})`],
    rows: levels.flatMap((l) => names.map((n) => {
      const p = l.pages[n]!;
      return [k(l.runs), l.seedSeconds, n, p.requests, p.errors, ms(p.p50), ms(p.p99), p.ratioToFirst.toFixed(2)];
    })),
    note: `One repository's completed runs, inserted by one INSERT … SELECT generate_series per level, then VACUUM (ANALYZE).${quick ? " Quick mode: 10k and 100k (1M in full mode)." : ""}`,
  };
}

export const listsScenario: Scenario = {
  id: "lists",
  title: "A list page as the repository grows",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const sizes = ctx.quick ? [10_000, 100_000] : [10_000, 1_000_000];
    const requests = ctx.quick ? 200 : 500;
    return withStack("lists", {}, (stack) => withPg(stack.dbUrl, async (c) => {
      const levels: Level[] = [];
      let seeded = 0;
      for (const runs of sizes) {
        ctx.log(`lists: seeding to ${k(runs)} runs`);
        const t = performance.now();
        await grow(c, stack.repoId, seeded, runs - seeded);
        seeded = runs;
        const seedSeconds = secondsSince(t);
        const measured = await measure(stack, runs, requests);
        const pages: Level["pages"] = {};
        for (const [name, r] of Object.entries(measured)) {
          const first = levels[0]?.pages[name]?.p50 ?? r.latency.p50;
          pages[name] = { requests: r.requests, errors: r.errors, p50: r.latency.p50, p99: r.latency.p99, ratioToFirst: +(r.latency.p50 / first).toFixed(2) };
        }
        levels.push({ runs, seedSeconds, pages });
      }
      return { id: "lists", title: "A list page as the repository grows", tables: [table(levels, ctx.quick)], data: { levels } };
    }));
  },
};
