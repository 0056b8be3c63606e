import { Queue, type ConnectionOptions } from "bullmq";
import { DELIVERY_QUEUE } from "../domain/contracts.ts";

// The webhook delivery queue's producer side (the dispatcher, the sweep, a redelivery from
// the API). A job is only a pointer: `{deliveryId}` under the id `delivery-<id>`, so adding
// one already in the queue is a no-op, and the delivery's state lives in Postgres.

export interface DeliveryRetry {
  /** WEBHOOK_MAX_ATTEMPTS: the queue's own limit matches the delivery's. */
  attempts: number;
  /** WEBHOOK_BACKOFF_MS: the first retry's delay, doubling after, with jitter. */
  backoffMs: number;
}

export const deliveryJobId = (id: bigint) => `delivery-${id}`;

export interface DeliveryQueue {
  enqueue(ids: readonly bigint[]): Promise<void>;
  close(): Promise<void>;
  queue: Queue;
}

export function deliveryQueue(connection: ConnectionOptions, prefix: string, retry: DeliveryRetry): DeliveryQueue {
  const queue = new Queue(DELIVERY_QUEUE, { connection, prefix });
  // Its errors surface through the caller's enqueue and the dependency watch.
  queue.on("error", () => {});
  return {
    queue,
    enqueue: async (ids) => {
      if (ids.length === 0) return;
      await queue.addBulk(ids.map((id) => ({
        name: "deliver",
        data: { deliveryId: id.toString() },
        opts: {
          jobId: deliveryJobId(id), attempts: retry.attempts,
          backoff: { type: "exponential", delay: retry.backoffMs, jitter: 0.5 },
          // Postgres keeps the delivery log; a removed job can be added again by the sweep.
          removeOnComplete: true, removeOnFail: true,
        },
      })));
    },
    close: () => queue.close(),
  };
}
