import type { Logger } from "./logger.ts";

export type Phase = [name: string, run: () => Promise<unknown>];

/**
 * Graceful shutdown in named phases under one deadline. A second signal, or the
 * deadline, forces the exit.
 */
export function onShutdown(log: Logger, phases: Phase[], deadlineMs = 25_000): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: forcing exit");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    const timer = setTimeout(() => {
      log.error({ deadlineMs }, "shutdown deadline passed: forcing exit");
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    let code = 0;
    for (const [name, run] of phases) {
      try {
        await run();
        log.info({ phase: name }, "shutdown phase done");
      } catch (e) {
        code = 1;
        log.error({ phase: name, err: (e as Error).message }, "shutdown phase failed");
      }
    }
    process.exit(code);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
