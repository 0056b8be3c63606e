import { PassThrough } from "node:stream";
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { type Container, type ContainerExit, forwardLines, isAlive, startContainer } from "./driver.ts";

const now = (): number => performance.timeOrigin + performance.now();

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface Started {
  c: Container;
  lines: Array<[string, "stdout" | "stderr"]>;
  /** Resolves when a stdout line equal to `text` has arrived. */
  seen(text: string): Promise<void>;
}

function start(run: string): Started {
  const lines: Array<[string, "stdout" | "stderr"]> = [];
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const c = startContainer(run, {
    onLine: (line, stream) => {
      lines.push([line, stream]);
      for (const w of waiters) if (stream === "stdout" && w.text === line) w.resolve();
    },
  });
  const seen = (text: string): Promise<void> => {
    if (lines.some(([l, s]) => l === text && s === "stdout")) return Promise.resolve();
    return within(new Promise<void>((resolve) => waiters.push({ text, resolve })), 5000, `line ${text}`);
  };
  return { c, lines, seen };
}

const stdout = (s: Started): string[] => s.lines.filter(([, st]) => st === "stdout").map(([l]) => l);
const exitOf = (c: Container): Promise<ContainerExit> => within(c.exited, 5000, "exit");

describe("startContainer", () => {
  it("delivers echo lines in order and exits 0", async () => {
    const s = start('echo one; echo "two  2"\necho three');
    expect(await exitOf(s.c)).toMatchObject({ code: 0, signal: null });
    expect(s.lines).toEqual([["one", "stdout"], ["two  2", "stdout"], ["three", "stdout"]]);
    expect(isAlive(s.c.pid)).toBe(false);
  });

  it("loses no output written just before exit", async () => {
    const run = Array.from({ length: 2000 }, (_, i) => `echo line ${i}`).join("\n") + "\nexit 7";
    const s = start(run);
    expect(await exitOf(s.c)).toMatchObject({ code: 7, signal: null });
    expect(stdout(s)).toEqual(Array.from({ length: 2000 }, (_, i) => `line ${i}`));
  });

  it("exit 3 ends the container with code 3 and skips later commands", async () => {
    const s = start("echo before; exit 3; echo after");
    expect(await exitOf(s.c)).toMatchObject({ code: 3, signal: null });
    expect(stdout(s)).toEqual(["before"]);
  });

  it("logs an unknown command as simulated", async () => {
    const s = start("make build; sleep 0.01; echo done");
    expect(await exitOf(s.c)).toMatchObject({ code: 0, signal: null });
    expect(stdout(s)).toEqual(["[simulated] make build", "done"]);
  });

  it("stop() ends a sleeping container by SIGTERM, well within the grace", async () => {
    const s = start("echo started; sleep 600");
    await s.seen("started");
    const t0 = now();
    const exit = await within(s.c.stop(2000), 5000, "stop");
    expect(exit).toMatchObject({ code: null, signal: "SIGTERM" });
    expect(exit.at - t0).toBeLessThan(500);
    expect(isAlive(s.c.pid)).toBe(false);
  });

  it("a container that ignores SIGTERM is SIGKILLed once the grace has passed", async () => {
    const s = start("trap '' TERM; echo trapped; sleep 600");
    await s.seen("trapped");
    const t0 = now();
    const exit = await within(s.c.stop(300), 5000, "stop");
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL" });
    expect(exit.at - t0).toBeGreaterThanOrEqual(300);
    expect(exit.at - t0).toBeLessThan(2000);
    expect(isAlive(s.c.pid)).toBe(false);
  });

  it("stop() right after start still stops it", async () => {
    const s = start("sleep 600");
    const exit = await within(s.c.stop(2000), 5000, "stop");
    expect(exit.signal).toBe("SIGTERM");
    expect(isAlive(s.c.pid)).toBe(false);
  });

  it("stop() twice, and kill() after stop(), resolve with the same exit", async () => {
    const s = start("trap '' TERM; echo trapped; sleep 600");
    await s.seen("trapped");
    const first = s.c.stop(10_000);
    const second = s.c.stop(10);
    const killed = s.c.kill();
    const exits = await within(Promise.all([first, second, killed]), 5000, "stop");
    expect(exits[0]).toMatchObject({ signal: "SIGKILL" });
    expect(exits[1]).toEqual(exits[0]);
    expect(exits[2]).toEqual(exits[0]);
  });

  it("stop() and kill() of an already-exited container resolve with its exit", async () => {
    const s = start("echo hi; exit 4");
    const exit = await exitOf(s.c);
    expect(await within(s.c.stop(100), 1000, "stop")).toEqual(exit);
    expect(await within(s.c.kill(), 1000, "kill")).toEqual(exit);
    expect(exit.code).toBe(4);
  });
});

describe("forwardLines", () => {
  it("splits across chunks, keeps UTF-8 intact, strips CR, flushes a trailing partial line", async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    forwardLines(stream, (l) => lines.push(l));
    const euro = Buffer.from("€");
    stream.write("a\nb");
    stream.write(Buffer.concat([Buffer.from("c "), euro.subarray(0, 1)]));
    stream.write(Buffer.concat([euro.subarray(1), Buffer.from("\r\n\nlast")]));
    stream.end();
    await within(new Promise((r) => stream.on("end", r)), 1000, "end");
    expect(lines).toEqual(["a", "bc €", "", "last"]);
  });
});

describe("isAlive", () => {
  it("is true for this process and false for a reaped child", async () => {
    expect(isAlive(process.pid)).toBe(true);
    const s = start("exit 0");
    await exitOf(s.c);
    expect(isAlive(s.c.pid)).toBe(false);
  });
});
