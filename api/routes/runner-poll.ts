import type { Response } from "express";
import type { RunnerDeps } from "./runner.ts";
import { inTx } from "../../infra/db.ts";
import { heartbeatAndClaim, type ClaimedJob, type HeartbeatInfo } from "../../domain/data/claim.ts";
import { beatOutcome, mayClaim, needsRowWrite, probeClaimable, recordHeartbeat, type RunnerFacts } from "../../domain/data/heartbeat.ts";
import { newOpaqueToken } from "../../domain/tokens.ts";
import { unprocessable } from "../errors.ts";

// POST /api/v1/runners/heartbeat?wait=SECONDS (docs/scaling.md, "Runner long-polling").

export const MAX_WAIT_S = 60;

/**
 * `?wait=` in ms, held at most half the heartbeat window: a held runner beats only when it
 * asks again, and its last-seen must not age past the window meanwhile.
 */
export function waitMs(raw: unknown, heartbeatWindowMs: number): number {
  if (raw === undefined) return 0;
  if (typeof raw !== "string" || !/^\d{1,2}$/.test(raw) || Number(raw) > MAX_WAIT_S) {
    throw unprocessable(`wait must be a whole number of seconds from 0 to ${MAX_WAIT_S}`);
  }
  return Math.min(Number(raw) * 1000, Math.floor(heartbeatWindowMs / 2));
}

/** Last-seen in Redis when nothing else changed and the row was written recently; the row otherwise. */
async function record(deps: RunnerDeps, f: RunnerFacts, info: HeartbeatInfo, now: Date): Promise<void> {
  const p = deps.polling;
  if (p && !needsRowWrite(f, info, now.getTime(), p.seenWriteMs) && (await p.seen(f.runnerId, now.getTime()))) return;
  await recordHeartbeat(deps.sql, f, info, now);
}

/** Thrown inside the claim's transaction to roll it back: the runner left before its job could be handed over. */
class ClientGone extends Error {
  override name = "ClientGone";
}

/**
 * The probe first (a read), the claim's transaction only when it found a job. A claim for a
 * client whose connection closed meanwhile is rolled back, not committed: the job would
 * otherwise be running for a live runner that never heard of it, which the reaper does not
 * end while that runner beats.
 */
async function tryClaim(deps: RunnerDeps, f: RunnerFacts, info: HeartbeatInfo, res: Response): Promise<ClaimedJob | null> {
  if (!(await probeClaimable(deps.sql, beatOutcome(f, info).labels))) return null;
  try {
    return await inTx(deps.prisma, async (tx) => {
      const claimed = await heartbeatAndClaim(tx, f.runnerId, info, new Date(), () => newOpaqueToken("shithub_job_"));
      if (claimed && (res.destroyed || res.socket === null || res.socket.destroyed)) throw new ClientGone();
      return claimed;
    });
  } catch (e) {
    if (e instanceof ClientGone) return null;
    throw e;
  }
}

/**
 * Records the heartbeat and claims a job, waiting up to `holdMs` for one to be queued or
 * unblocked. A client that goes away mid-wait leaves at once: nothing is claimed for it.
 */
export async function beatAndPoll(deps: RunnerDeps, f: RunnerFacts, info: HeartbeatInfo, holdMs: number, res: Response): Promise<ClaimedJob | null> {
  await record(deps, f, info, new Date());
  if (!mayClaim(f, info)) return null;
  const first = await tryClaim(deps, f, info, res);
  const waiters = deps.polling?.waiters;
  if (first || holdMs <= 0 || !waiters) return first;
  const ac = new AbortController();
  const onClose = () => {
    if (!res.writableEnded) ac.abort();
  };
  res.on("close", onClose);
  try {
    const end = await waiters.wait(beatOutcome(f, info).labels, holdMs, ac.signal);
    // At the deadline no last look: the runner beats again at once, and that beat's claim
    // covers a wake-up hint that was lost, for the price of one statement fewer per wait.
    if (end !== "woken" || ac.signal.aborted) return null;
    const c = await tryClaim(deps, f, info, res);
    // Another job may be waiting for the next waiter of these labels. A woken claim that got
    // nothing (another runner took the job, or this one was drained meanwhile) answers 204
    // rather than waiting again: a waiter the probe keeps waking in vain cannot spin.
    waiters.kick();
    return c;
  } finally {
    res.off("close", onClose);
  }
}
