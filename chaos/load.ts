import { randomUUID } from "node:crypto";
import { sleep } from "./infra.ts";

// The client side: intents fired concurrently, each retried the way a careful client
// would, and every answer recorded so it can be held against the database afterwards.

export interface Op {
  n: number;
  kind: "cancel" | "rerun";
  target: number;
  /** Reruns carry an Idempotency-Key and retry any 5xx with it; cancels carry none. */
  key: string | null;
}

export interface Answer {
  status: number;
  ms: number;
  /** Wall clock when the answer arrived. */
  at: number;
  /** Network error or client-side abort instead of an HTTP answer. */
  error?: string;
}

export type Final =
  | "ack" // 201/202
  | "queued" // 503 "queued and will be applied": the intent is in the queue
  | "uncertain" // 503 "may have been queued": Redis went away mid-request
  | "refused" // only "nothing was applied" answers until the client gave up
  | "error"; // anything else

export interface OpResult {
  op: Op;
  final: Final;
  body: Record<string, unknown> | null;
  intentId: string | null;
  answers: Answer[];
}

export interface LoadOptions {
  apiUrl: string;
  token: string;
  concurrency: number;
  /** An answer slower than this counts as a hang. */
  boundMs: number;
  /** How long a client keeps retrying one intent. */
  giveUpMs: number;
}

export function planOps(parts: { cancels: number[]; reruns: { target: number; count: number }[] }): Op[] {
  const ops: Omit<Op, "n">[] = parts.cancels.map((target) => ({ kind: "cancel" as const, target, key: null }));
  for (const r of parts.reruns) for (let i = 0; i < r.count; i++) ops.push({ kind: "rerun", target: r.target, key: `chaos-${randomUUID()}` });
  for (let i = ops.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ops[i], ops[j]] = [ops[j]!, ops[i]!];
  }
  return ops.map((o, n) => ({ ...o, n }));
}

async function send(o: LoadOptions, op: Op): Promise<{ answer: Answer; body: Record<string, unknown> | null }> {
  const path = op.kind === "cancel" ? `/api/v1/jobs/${op.target}/cancel` : `/api/v1/runs/${op.target}/rerun`;
  const headers: Record<string, string> = { authorization: `Bearer ${o.token}` };
  if (op.key) headers["idempotency-key"] = op.key;
  const t0 = performance.now();
  try {
    const r = await fetch(o.apiUrl + path, { method: "POST", headers, signal: AbortSignal.timeout(o.boundMs + 20_000) });
    const text = await r.text();
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { raw: text.slice(0, 200) };
    }
    return { answer: { status: r.status, ms: performance.now() - t0, at: Date.now() }, body };
  } catch (e) {
    return { answer: { status: 0, ms: performance.now() - t0, at: Date.now(), error: (e as Error).message }, body: null };
  }
}

/** One intent until it is answered for good or the client gives up. */
async function drive(o: LoadOptions, res: OpResult): Promise<void> {
  const { op } = res;
  const giveUp = Date.now() + o.giveUpMs;
  for (let attempt = 1; ; attempt++) {
    const { answer, body } = await send(o, op);
    res.answers.push(answer);
    res.body = body;
    const withId = answer.status === 503 && typeof body?.intent_id === "string";
    if (withId) res.intentId = body.intent_id as string;
    const uncertain = withId && /may have been queued/.test(String(body.error));
    const queued = withId && !uncertain;
    let retry: boolean;
    if (answer.status === 201 || answer.status === 202) {
      res.final = "ack";
      return;
    } else if (queued || uncertain) {
      // Unkeyed, sending it again could apply it twice: the client leaves it there.
      res.final = queued || res.final === "queued" ? "queued" : "uncertain";
      retry = op.key !== null;
    } else if (answer.status === 503) {
      if (res.final !== "queued" && res.final !== "uncertain") res.final = "refused";
      retry = true; // "nothing was applied": safe to send again
    } else {
      // A 500 or a network error leaves the outcome unknown: only a keyed request may be repeated.
      if (res.final !== "queued" && res.final !== "uncertain") res.final = "error";
      retry = op.key !== null && (answer.status >= 500 || answer.status === 0);
    }
    if (!retry || Date.now() > giveUp) return;
    await sleep(Math.min(1000, 100 * attempt) + Math.random() * 100);
  }
}

export class Load {
  answered = 0;
  private readonly started: OpResult[] = [];
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly ops: Op[], private readonly o: LoadOptions) {}

  /** Resolves once `fraction` of the intents have their final answer. */
  reached(fraction: number): Promise<void> {
    const n = Math.ceil(this.ops.length * fraction);
    if (this.answered >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Every intent sent so far, with the answers it has had (finished or not). */
  results(): OpResult[] {
    return [...this.started];
  }

  async run(): Promise<OpResult[]> {
    let next = 0;
    const lane = async () => {
      while (next < this.ops.length) {
        const res: OpResult = { op: this.ops[next++]!, final: "error", body: null, intentId: null, answers: [] };
        this.started.push(res);
        await drive(this.o, res);
        this.answered++;
        for (const w of this.waiters.filter((x) => this.answered >= x.n)) w.resolve();
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency }, lane));
    for (const w of this.waiters) w.resolve();
    return this.results();
  }
}
