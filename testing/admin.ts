import { execFile } from "node:child_process";
import path from "node:path";
import { REPO } from "./processes.ts";

// The operator CLI against a system's database, as `npm run -s admin -- …` runs it
// (admin/cli.ts): its stdout is the result; exit status 1 or 2 is an error carrying
// its one line from stderr.

export interface Admin {
  /** Runs `admin <args…>` (the command's name as one argument or two) and resolves with its stdout (the trailing newline removed). */
  (...args: string[]): Promise<string>;
  /** The same with `--json` (added when missing): the one JSON object it prints, parsed. */
  json<T = any>(...args: string[]): Promise<T>;
}

export class AdminCliError extends Error {
  override name = "AdminCliError";
  constructor(readonly args: string[], readonly exitCode: number | null, readonly stderr: string, readonly stdout: string) {
    super(`admin ${args.join(" ")} failed (exit ${exitCode ?? "by signal"}): ${stderr.trim() || stdout.trim() || "no output"}`);
  }
}

/**
 * The command's name may come as one argument: admin("user create", "--login", "alice").
 * The CLI runs in the checkout; a --source path is the caller's, relative to its directory.
 */
function argv(args: string[]): string[] {
  const [first, ...rest] = args;
  const split = first !== undefined && /^[a-z-]+ [a-z-]+$/.test(first) ? [...first.split(" "), ...rest] : args;
  return split.map((a, i) => (split[i - 1] === "--source" ? path.resolve(process.cwd(), a) : a));
}

export function adminCli(env: Record<string, string>, timeoutMs: number): Admin {
  const runCli = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--import", "tsx", path.join(REPO, "admin/cli.ts"), ...args],
        { cwd: REPO, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout.replace(/\n$/, ""));
          const code = typeof err.code === "number" ? err.code : null;
          if (err.killed) return reject(new AdminCliError(args, code, `timed out after ${timeoutMs} ms. ${stderr}`, stdout));
          reject(new AdminCliError(args, code, stderr, stdout));
        },
      );
    });
  const admin = ((...args: string[]) => runCli(argv(args))) as Admin;
  admin.json = async <T>(...given: string[]): Promise<T> => {
    const args = argv(given);
    const out = await runCli(args.includes("--json") ? args : [...args, "--json"]);
    try {
      return JSON.parse(out) as T;
    } catch {
      throw new AdminCliError(args, 0, `printed no JSON object: ${out.slice(0, 500)}`, out);
    }
  };
  return admin;
}
