// The simulated container: executes a command list parsed by script.ts.
// Plain JavaScript with no imports beyond node: so it starts with bare `node`
// in a few tens of milliseconds (no tsx, no loader). Never runs a shell.
//
// Usage: node main.mjs <base64url(JSON Command[])>

import { fstatSync } from "node:fs";

// setTimeout's delay is a signed 32-bit millisecond count; longer sleeps chain.
const MAX_TIMER_MS = 2 ** 31 - 1;

function fail(message) {
  process.stderr.write(`container: ${message}\n`);
  process.exitCode = 2;
}

function validCommand(c) {
  if (c === null || typeof c !== "object") return false;
  switch (c.op) {
    case "echo":
    case "simulated":
      return typeof c.text === "string";
    case "sleep":
      return typeof c.seconds === "number" && Number.isFinite(c.seconds) && c.seconds >= 0;
    case "exit":
      return Number.isInteger(c.code) && c.code >= 0 && c.code <= 255;
    case "trap_term":
      return true;
    default:
      return false;
  }
}

function decode(arg) {
  if (typeof arg !== "string" || !/^[A-Za-z0-9_-]*$/.test(arg)) {
    throw new Error("argument must be base64url-encoded JSON");
  }
  let commands;
  try {
    commands = JSON.parse(Buffer.from(arg, "base64url").toString("utf8"));
  } catch {
    throw new Error("argument is not valid JSON");
  }
  if (!Array.isArray(commands)) throw new Error("commands must be a JSON array");
  const bad = commands.findIndex((c) => !validCommand(c));
  if (bad !== -1) throw new Error(`invalid command at index ${bad}: ${JSON.stringify(commands[bad])}`);
  return commands;
}

async function sleep(seconds) {
  let remaining = seconds * 1000;
  do {
    const step = Math.min(remaining, MAX_TIMER_MS);
    await new Promise((resolve) => setTimeout(resolve, step));
    remaining -= step;
  } while (remaining > 0);
}

/** Returns the exit code requested by an `exit` command, or 0 at the end. */
async function execute(commands) {
  for (const c of commands) {
    switch (c.op) {
      case "echo":
        process.stdout.write(`${c.text}\n`);
        break;
      case "simulated":
        process.stdout.write(`[simulated] ${c.text}\n`);
        break;
      case "sleep":
        await sleep(c.seconds);
        break;
      case "trap_term":
        process.on("SIGTERM", () => {});
        break;
      case "exit":
        return c.code;
    }
  }
  return 0;
}

// The runner holds the other end of stdin (a socket): end of file means the runner is
// gone, even SIGKILLed, and a container must not outlive it (docs/decisions.md,
// "Stopping"). Watched, not waited on: it does not keep the process alive.
function dieWithRunner() {
  let st;
  try {
    st = fstatSync(0);
  } catch {
    return;
  }
  if (!st.isSocket() && !st.isFIFO()) return;
  process.stdin.on("error", () => {});
  process.stdin.on("end", () => {
    try {
      process.kill(-process.pid, "SIGKILL");
    } catch {
      process.exit(137);
    }
  });
  process.stdin.resume();
  process.stdin.unref?.();
}
dieWithRunner();

let commands;
try {
  commands = decode(process.argv[2]);
} catch (e) {
  fail(e.message);
}
if (commands !== undefined) {
  // exitCode rather than process.exit(): nothing else is pending once execute()
  // returns, so the process ends as soon as pending stdout writes have drained.
  process.exitCode = await execute(commands);
}
