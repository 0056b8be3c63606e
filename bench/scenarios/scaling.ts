import os from "node:os";
import { closedLoop, type LoadResult } from "../lib/load.ts";
import { httpClient, type HttpClient } from "../lib/http.ts";
import { withPg } from "../lib/data.ts";
import { withStack, type Stack } from "../lib/stack.ts";
import { ms, type BenchContext, type Scenario, type ScenarioResult } from "../lib/types.ts";
import { cancelFire, seedQueued, type CancelLoad } from "./cancel.ts";

// Cancel throughput as processes are added: 1, 2 and 4 workers behind one API, then 2 APIs
// and 2 workers. Every process shares the same few cores with Postgres, Redis and the load
// generator, so this shows where adding processes stops paying on this machine, not how
// the service scales on separate hosts.

const CONCURRENCY = 64;
const WORKERS = [1, 2, 4];
// Counted requests per configuration (after a warm-up of a tenth as many): quick keeps ≥ 300 behind each p99.
const QUICK_PER_CONFIG = 330;
const FULL_PER_CONFIG = 2000;

interface Config {
  apis: number;
  workers: number;
  rps: number;
  latency: LoadResult["latency"];
  errors: number;
  requests: number;
  seconds: number;
  /** Answers other than 202 by status, warm-up included. */
  failures: Record<string, number>;
  firstError?: string;
}

/** The client cancelFire sends with, counting the answers that are not 202 by status (0: transport error). */
function counting(client: HttpClient, failures: Record<string, number>): HttpClient {
  const note = (status: number) => {
    if (status !== 202) failures[status] = (failures[status] ?? 0) + 1;
  };
  return {
    async request(...a) {
      try {
        const r = await client.request(...a);
        note(r.status);
        return r;
      } catch (e) {
        note(0);
        throw e;
      }
    },
    close: client.close,
  };
}

/** The first error a process of the stack logged, to say why requests failed. */
function firstError(stack: Stack): string | undefined {
  for (const [name, svc] of stack.services) {
    const line = svc.output().split("\n").find((l) => /"level":(50|60)/.test(l));
    if (line) return `${name}: ${line.slice(0, 400)}`;
  }
  return undefined;
}

/** Throws unless every 202 answer left its job cancelled in the database. */
async function verify(stack: Stack, jobs: number[], accepted: number, label: string): Promise<void> {
  const { rows } = await withPg(stack.dbUrl, (c) =>
    c.query<{ n: string }>(`SELECT count(*) AS n FROM workflow_jobs WHERE id = ANY($1::bigint[]) AND status = 'cancelled'`, [jobs]));
  const cancelled = Number(rows[0]!.n);
  if (cancelled !== accepted) throw new Error(`scaling ${label}: ${accepted} answers 202 but ${cancelled} jobs cancelled`);
}

/** One closed loop through the first `apis` API processes of the stack, over fresh queued jobs. */
async function measure(ctx: BenchContext, stack: Stack, apis: number, perConfig: number): Promise<Config> {
  const workers = [...stack.services.keys()].filter((n) => n.startsWith("worker-")).length;
  const label = `${apis} api, ${workers} worker${workers > 1 ? "s" : ""}`;
  const warmup = perConfig / 10;
  const l: CancelLoad = { stack: { ...stack, apis: stack.apis.slice(0, apis) }, jobs: await seedQueued(stack, perConfig + warmup), next: 0 };
  const client = httpClient(256);
  const failures: Record<string, number> = {};
  const fire = cancelFire(l, counting(client, failures));
  let accepted = 0;
  try {
    ctx.log(`scaling: ${label}, closed loop c=${CONCURRENCY}`);
    const r = await closedLoop({
      concurrency: CONCURRENCY, total: perConfig + warmup, warmup,
      fire: async () => {
        const ok = await fire();
        if (ok) accepted++;
        return ok;
      },
    });
    await verify(stack, l.jobs, accepted, label);
    const failed = Object.keys(failures).length > 0;
    return { apis, workers, rps: r.rps, latency: r.latency, errors: r.errors, requests: r.requests, seconds: r.seconds, failures, firstError: failed ? firstError(stack) : undefined };
  } finally {
    client.close();
  }
}

/**
 * Starts or stops worker processes until the stack has `n`; a started one is ready
 * (subscribed) and a stopped one has exited before this returns.
 */
async function scaleWorkersTo(stack: Stack, n: number): Promise<void> {
  const have = [...stack.services.keys()].filter((k) => k.startsWith("worker-")).length;
  await Promise.all(Array.from({ length: n - have }, (_, i) => stack.start(`worker-${have + i + 1}`, "worker/main.ts", {}, /worker ready/)));
  await Promise.all(Array.from({ length: have - n }, (_, i) => stack.stop(`worker-${have - i}`)));
}

export const scalingScenario: Scenario = {
  id: "scaling",
  title: "Cancel throughput by process count",
  async run(ctx: BenchContext): Promise<ScenarioResult> {
    const perConfig = ctx.quick ? QUICK_PER_CONFIG : FULL_PER_CONFIG;
    const cpus = os.cpus().length;
    const configs: Config[] = [];
    // Every configuration on one running stack (a stack takes seconds to start on a busy
    // machine). The second API starts only for the last one: an API tails the queue's
    // events even when idle, so started earlier it would load the 1-API configurations.
    await withStack("scaling", { workers: 1 }, async (stack) => {
      for (const n of WORKERS) {
        await scaleWorkersTo(stack, n);
        configs.push(await measure(ctx, stack, 1, perConfig));
      }
      await Promise.all([scaleWorkersTo(stack, 2), stack.addApi()]);
      configs.push(await measure(ctx, stack, 2, perConfig));
    });
    const base = configs[0]!.rps;
    return {
      id: "scaling",
      title: "Cancel throughput by process count",
      tables: [{
        title: `POST /jobs/{id}/cancel, closed loop at concurrency ${CONCURRENCY}, by api and worker processes (ms)`,
        columns: ["apis", "workers", "requests", "errors", "req/s", "× 1 api + 1 worker", "p50", "p99"],
        rows: configs.map((c) => [c.apis, c.workers, c.requests, c.errors, c.rps, (c.rps / base).toFixed(2), ms(c.latency.p50), ms(c.latency.p99)]),
        note: `${cpus} CPU${cpus === 1 ? "" : "s"} (os.cpus()), shared by every process, Postgres, Redis and the load generator. `
          + `${perConfig} requests per configuration after a warm-up of ${perConfig / 10}, each on a different queued job; `
          + `all on one running stack: workers added, then workers 3 and 4 stopped and a second API started, the two APIs getting the requests round-robin. Checked by SQL: one cancelled job per 202 answer.`,
      }],
      data: { cpus, concurrency: CONCURRENCY, configs },
      notes: configs.filter((c) => Object.keys(c.failures).length).map((c) =>
        `${c.apis} api + ${c.workers} workers, unexpected answers (warm-up included): ${JSON.stringify(c.failures)} (0: transport error)${c.firstError ? `; first error logged: ${c.firstError}` : ""}.`),
    };
  },
};
