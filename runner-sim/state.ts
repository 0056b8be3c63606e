import { createHash } from "node:crypto";
import { closeSync, fchmodSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { procCmdline, procStat, type ProcStat } from "./proc.ts";

// A fleet's identity: which runners it speaks for, on which service. Its state folder and
// the marker its containers carry derive from it, so two fleets on one host never share
// a folder nor sweep each other's containers, and a second live fleet of the same
// identity (which would rotate the first one's runners) is refused.

export type FleetSource = { kind: "names"; prefix: string } | { kind: "tokens"; tokens: string[] };

export interface FleetIdentity {
  /** The folder under the state base (readable, never a token). */
  dirName: string;
  /** Put into each container's environment; the sweep kills only containers carrying it. */
  marker: string;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export function fleetIdentity(apiUrl: string, src: FleetSource): FleetIdentity {
  // Tokens enter only hashed, and then hashed again with everything else.
  const who = src.kind === "names" ? `names:${src.prefix}` : `tokens:${[...new Set(src.tokens.map(sha256))].sort().join(",")}`;
  const h = sha256(`actions-runner-sim fleet\n${apiUrl}\n${who}`);
  const label = src.kind === "names" ? src.prefix : "tokens";
  return { dirName: `${label}-${h.slice(0, 12)}`, marker: h.slice(0, 32) };
}

export class FleetLockedError extends Error {
  override name = "FleetLockedError";
}

const ownerFile = (dir: string) => path.join(dir, "fleet.pid");

/** Is the process a lock file names still that runner-sim (not a later user of its pid)? */
export function isLiveOwner(rec: { pid: number; start_time: string }, stat: ProcStat | null, cmdline: string[] | null): boolean {
  return stat !== null && stat.startTime === rec.start_time && (cmdline ?? []).some((a) => a.endsWith("runner-sim/main.ts"));
}

function describeOwner(dir: string): string {
  try {
    const rec = JSON.parse(readFileSync(ownerFile(dir), "utf8")) as { pid: number; start_time: string };
    if (Number.isInteger(rec.pid) && isLiveOwner(rec, procStat(rec.pid), procCmdline(rec.pid))) return `pid ${rec.pid}`;
  } catch {
    // No readable owner file: the name of the state folder must do.
  }
  return "owner unknown";
}

/**
 * Holds this fleet's identity on this host until the process ends. The kernel holds the
 * lock (an abstract Unix socket, released when its process dies, even by SIGKILL), so a
 * stale lock cannot exist and two starts cannot both win; the owner file beside the
 * state says who holds it. Linux only; elsewhere nothing is locked.
 */
export async function lockFleet(dir: string, id: FleetIdentity): Promise<{ locked: boolean; release(): void }> {
  if (process.platform !== "linux") return { locked: false, release() {} };
  const server = net.createServer((c) => c.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ path: `\0actions-runner-sim:${id.marker}` }, resolve);
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
    throw new FleetLockedError(`another runner-sim fleet with this identity is running on this host (${describeOwner(dir)}; state ${dir}); refusing to start`);
  }
  server.unref();
  writeFileSync(ownerFile(dir), JSON.stringify({ pid: process.pid, start_time: procStat(process.pid)?.startTime ?? "" }));
  return {
    locked: true,
    release() {
      rmSync(ownerFile(dir), { force: true });
      server.close();
    },
  };
}

// A self-registered runner's current token is its proof, when the fleet restarts, that it
// is that runner and not another host using the shared registration secret (which may not
// end a live runner's session). Only this user may read it: the file is 0600.
const tokensFile = (dir: string) => path.join(dir, "runner-tokens.json");

/** The runner tokens this fleet's last life was given, by runner name; {} when none were kept. */
export function readRunnerTokens(dir: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(tokensFile(dir), "utf8");
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string"));
  } catch {
    // A torn or foreign file proves nothing: the runners register without proof.
    return {};
  }
}

/**
 * Replaces the kept tokens (written whole, then renamed, so a crash leaves the old or the new
 * file). The temporary file is created afresh (O_EXCL): whatever had its name — a leftover,
 * or a symlink planted in a shared state base — is removed, not written through, so the
 * tokens never land in a file someone else chose.
 */
export function writeRunnerTokens(dir: string, tokens: Record<string, string>): void {
  const tmp = `${tokensFile(dir)}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, "wx", 0o600);
  try {
    // The mode given to open is masked by the umask: set it on the file itself.
    fchmodSync(fd, 0o600);
    writeSync(fd, JSON.stringify(tokens));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, tokensFile(dir));
}
