// The runner drivers a benchmark measures (BENCH_RUNNER_DRIVERS), and what a docker fleet
// left running: the engine is asked by the fleet's label (runner-sim/container/docker.ts).

import { DEFAULT_IMAGE, LABELS } from "../../runner-sim/container/docker.ts";
import { Engine, engineSocket } from "../../runner-sim/container/engine.ts";
import { fleetIdentity } from "../../runner-sim/state.ts";

export type Driver = "process" | "docker";

/** The fleet's containers the engine still runs (every container of the fleet carries its marker). */
export async function leftoverDocker(apiUrl: string, namePrefix: string): Promise<string[]> {
  const engine = new Engine(engineSocket(process.env.DOCKER_HOST));
  try {
    const marker = fleetIdentity(apiUrl, { kind: "names", prefix: namePrefix }).marker;
    const filters = encodeURIComponent(JSON.stringify({ label: [`${LABELS.fleet}=${marker}`], status: ["running"] }));
    return (await engine.call<{ Id: string }[]>("GET", `/containers/json?filters=${filters}`)).json.map((c) => c.Id.slice(0, 12));
  } finally {
    engine.close();
  }
}

/** Which drivers to measure, and why docker is left out when it is. */
export async function driversToMeasure(): Promise<{ drivers: Driver[]; skipped?: string }> {
  const given = process.env.BENCH_RUNNER_DRIVERS;
  if (given) {
    const drivers = given.split(",").map((d) => d.trim()).filter(Boolean);
    const bad = drivers.filter((d) => d !== "process" && d !== "docker");
    if (bad.length > 0) throw new Error(`BENCH_RUNNER_DRIVERS: unknown driver(s) ${bad.join(", ")}; known: process, docker`);
    return { drivers: drivers as Driver[] };
  }
  const engine = new Engine(engineSocket(process.env.DOCKER_HOST));
  try {
    await engine.call("GET", "/_ping", { timeoutMs: 2_000 });
    const img = await engine.call("GET", `/images/${encodeURIComponent(DEFAULT_IMAGE)}/json`, { accept: [404], timeoutMs: 5_000 });
    if (img.status === 404) return { drivers: ["process"], skipped: `docker not measured: no image ${DEFAULT_IMAGE} (docker/images/runner-job/build.sh)` };
    return { drivers: ["process", "docker"] };
  } catch (e) {
    return { drivers: ["process"], skipped: `docker not measured: ${(e as Error).message}` };
  } finally {
    engine.close();
  }
}
