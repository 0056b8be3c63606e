// How a step's container is made (RUNNER_DRIVER): a child process (process, the default)
// or a real container on a Docker engine (docker). JobRun sees only the Container interface.

import { startContainer, type Container, type StartOptions } from "./driver.ts";

/** What a container is labelled with: which runner and job it belongs to. */
export interface StepContext {
  runnerId: number;
  jobId: number;
  stepId: number;
}

export interface ContainerDriver {
  readonly kind: "process" | "docker";
  /** Rejects when the container cannot be started; its message is the whole story. */
  start(run: string, opts: StartOptions, step: StepContext): Promise<Container>;
}

export const processDriver: ContainerDriver = {
  kind: "process",
  start: async (run, opts) => startContainer(run, opts),
};
