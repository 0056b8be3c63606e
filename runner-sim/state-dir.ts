import { lstatSync, mkdirSync, type Stats } from "node:fs";
import path from "node:path";

// The state folder holds the runners' tokens and the pid files the orphan sweep trusts, so
// it must be this user's alone: on a shared /tmp another user could otherwise create the
// default base first, or plant a symlink, and read the tokens or point the sweep at
// processes of its choosing (docs/security.md, "Runners").

export type StateDirVerdict = { ok: true } | { ok: false; reason: string };

type DirFacts = Pick<Stats, "uid" | "mode"> & { isDirectory: boolean; isSymbolicLink: boolean };

/** Whether a folder may hold the fleet's state, for a process running as `uid`. */
export function judgeStateDir(facts: DirFacts, uid: number): StateDirVerdict {
  if (facts.isSymbolicLink) return { ok: false, reason: "is a symbolic link" };
  if (!facts.isDirectory) return { ok: false, reason: "is not a folder" };
  if (facts.uid !== uid) return { ok: false, reason: `belongs to uid ${facts.uid}, not to this user (uid ${uid})` };
  if ((facts.mode & 0o022) !== 0) return { ok: false, reason: `can be written by others (mode ${(facts.mode & 0o777).toString(8)})` };
  return { ok: true };
}

export class StateDirError extends Error {
  override name = "StateDirError";
}

function check(dir: string, uid: number): void {
  const st = lstatSync(dir);
  const verdict = judgeStateDir({ uid: st.uid, mode: st.mode, isDirectory: st.isDirectory(), isSymbolicLink: st.isSymbolicLink() }, uid);
  if (!verdict.ok) {
    throw new StateDirError(`runner-sim state folder ${dir} ${verdict.reason}: set RUNNER_STATE_DIR to a folder of this user's own (mode 700)`);
  }
}

/** Creates (mode 700) or checks the state base and the fleet's folder in it; returns the folder. */
export function prepareStateDir(base: string, dirName: string): string {
  const uid = process.getuid?.();
  const dir = path.join(base, dirName);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (uid === undefined) return dir; // no uids on this platform
  check(base, uid);
  check(dir, uid);
  return dir;
}
