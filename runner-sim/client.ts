import { z } from "zod";
import { DependencyError, detailOf } from "../infra/deps.ts";

// The runner protocol of docs/runner-protocol.md, as a runner speaks it. No database access.

export const claimedJob = z.object({
  token: z.string(),
  expires_at: z.string(),
  job: z.object({
    id: z.number(),
    run_id: z.number(),
    /** The runner the job was claimed for: a cancel signal must name it. */
    runner_id: z.number(),
    job_key: z.string(),
    name: z.string(),
    runs_on: z.string(),
    timeout_minutes: z.number(),
    steps: z.array(z.object({ id: z.number(), index: z.number(), name: z.string(), run: z.string() })),
  }),
});
export type Claim = z.infer<typeof claimedJob>;

const cancelCheckAnswer = z.object({ cancelled: z.boolean(), force: z.boolean() });

export type CancelAnswer =
  | { kind: "answer"; cancelled: boolean; force: boolean }
  | { kind: "refused"; message: string }
  | { kind: "failed"; message: string };

export type StatusBody = { status: "running" } | { status: "completed"; conclusion: string } | { status: "cancelled" } | { status: "skipped" };

export class ProtocolError extends Error {
  override name = "ProtocolError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const RETRYABLE = new Set([429, 500, 502, 503, 504]);
// A status report must outlast an API or database outage: given up, it leaves the job
// `running` on a live runner until its timeout (found by the postgres-restart chaos
// scenario). At the 3 s backoff cap this is about ten minutes.
const REPORT_ATTEMPTS = 200;

export class RunnerClient {
  /** `registerAttempts`: how long a registration waits for the API (30: about 80 s). */
  constructor(
    private readonly apiUrl: string,
    private readonly registerAttempts = 30,
  ) {}

  private async post(path: string, token: string, body?: unknown, attempts = 6, requestId?: string, signal?: AbortSignal): Promise<{ status: number; json: unknown }> {
    let delay = 100;
    for (let i = 1; ; i++) {
      try {
        const r = await fetch(this.apiUrl + path, {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
            ...(requestId === undefined ? {} : { "x-request-id": requestId }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          ...(signal ? { signal } : {}),
        });
        const text = await r.text();
        const json = text ? (JSON.parse(text) as unknown) : null;
        if (r.ok) return { status: r.status, json };
        if (!RETRYABLE.has(r.status) || i >= attempts) {
          throw new ProtocolError(r.status, `${path}: ${r.status} ${(json as { error?: string } | null)?.error ?? ""}`);
        }
      } catch (e) {
        if (e instanceof ProtocolError || i >= attempts) throw e;
      }
      // The API or the network hiccuped: the report must still land, so back off and retry.
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 3000);
    }
  }

  /** `current_token`: the runner token of this runner's last life, its proof when that life may still look live. */
  async register(
    registrationToken: string,
    body: { name: string; labels: string[]; capacity: number; current_token?: string },
  ): Promise<{ id: number; token: string; ended_jobs: number[] }> {
    // Under `npm start` the fleet starts before the API listens: wait for it (about 80 s at
    // the backoff cap), then say in one line that it never answered.
    try {
      const r = await this.post("/api/v1/runners/register", registrationToken, body, this.registerAttempts);
      return r.json as { id: number; token: string; ended_jobs: number[] };
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      const cause = (e as { cause?: unknown }).cause ?? e;
      throw new DependencyError("api", { kind: "unreachable", detail: detailOf(cause) }, this.apiUrl);
    }
  }

  /**
   * null when nothing was claimable. `waitS`: a long poll, the API holds the request up to
   * that long for a job to be queued (docs/scaling.md, "Runner long-polling"); `signal` ends it early.
   */
  async heartbeat(
    runnerToken: string,
    body: { labels?: string[]; capacity?: number; host_name: string; version: string },
    poll: { waitS?: number; signal?: AbortSignal } = {},
  ): Promise<Claim | null> {
    const path = poll.waitS ? `/api/v1/runners/heartbeat?wait=${poll.waitS}` : "/api/v1/runners/heartbeat";
    const r = await this.post(path, runnerToken, body, 1, undefined, poll.signal);
    return r.status === 204 ? null : claimedJob.parse(r.json);
  }

  jobStatus(jobId: number, token: string, body: StatusBody, requestId?: string) {
    return this.post(`/api/v1/jobs/${jobId}/status`, token, body, REPORT_ATTEMPTS, requestId);
  }

  stepStatus(jobId: number, stepId: number, token: string, body: StatusBody) {
    return this.post(`/api/v1/jobs/${jobId}/steps/${stepId}/status`, token, body, REPORT_ATTEMPTS);
  }

  log(jobId: number, token: string, chunk: { step_id: number; seq: number; content: string }) {
    return this.post(`/api/v1/jobs/${jobId}/logs`, token, chunk);
  }

  /** The API's word on a job's cancel; a 401 (the token no longer works) is an answer too. */
  async cancelCheck(jobId: number, token: string): Promise<CancelAnswer> {
    try {
      const r = await this.post(`/api/v1/jobs/${jobId}/cancel-check`, token, undefined, 2);
      const a = cancelCheckAnswer.parse(r.json);
      return { kind: "answer", cancelled: a.cancelled, force: a.force };
    } catch (e) {
      if (e instanceof ProtocolError && e.status === 401) return { kind: "refused", message: e.message };
      return { kind: "failed", message: (e as Error).message };
    }
  }
}
