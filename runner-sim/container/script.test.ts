import { describe, expect, it } from "vitest";
import { type Command, parseScript } from "./script.ts";

const sim = (text: string): Command => ({ op: "simulated", text });

describe("parseScript", () => {
  const cases: Array<[string, Command[]]> = [
    // splitting
    ['echo "compiling"; sleep 2', [{ op: "echo", text: "compiling" }, { op: "sleep", seconds: 2 }]],
    ["echo a\necho b\r\necho c", ["a", "b", "c"].map((text) => ({ op: "echo", text }))],
    ["  ;; echo a ;\n\n ; ", [{ op: "echo", text: "a" }]],
    ["", []],
    ['echo "a;b"; echo \'c;d\'', [{ op: "echo", text: "a;b" }, { op: "echo", text: "c;d" }]],
    // a stray quote spoils only its own line
    ["echo don't; sleep 1\necho ok", [sim("echo don't; sleep 1"), { op: "echo", text: "ok" }]],
    // echo
    ["echo hello   world", [{ op: "echo", text: "hello world" }]],
    ["echo", [{ op: "echo", text: "" }]],
    ['echo "a  b"  c', [{ op: "echo", text: "a  b c" }]],
    ['echo \'say "hi"\'', [{ op: "echo", text: 'say "hi"' }]],
    ['echo pre"fix"\'ed\'', [{ op: "echo", text: "prefixed" }]],
    ['echo "" x', [{ op: "echo", text: " x" }]],
    ["echo\ttabbed", [{ op: "echo", text: "tabbed" }]],
    ['echo "unterminated', [sim('echo "unterminated')]],
    ["echo $HOME `id`", [{ op: "echo", text: "$HOME `id`" }]],
    // sleep
    ["sleep 0", [{ op: "sleep", seconds: 0 }]],
    ["sleep 0.5", [{ op: "sleep", seconds: 0.5 }]],
    ["sleep .25", [{ op: "sleep", seconds: 0.25 }]],
    ["sleep 600", [{ op: "sleep", seconds: 600 }]],
    ['sleep "3"', [{ op: "sleep", seconds: 3 }]],
    ["sleep abc", [sim("sleep abc")]],
    ["sleep -1", [sim("sleep -1")]],
    ["sleep 1e3", [sim("sleep 1e3")]],
    ["sleep", [sim("sleep")]],
    ["sleep 1 2", [sim("sleep 1 2")]],
    ["sleep 1" + "0".repeat(400), [sim("sleep 1" + "0".repeat(400))]],
    // exit
    ["exit", [{ op: "exit", code: 0 }]],
    ["exit 3", [{ op: "exit", code: 3 }]],
    ["exit 255", [{ op: "exit", code: 255 }]],
    ["exit 256", [sim("exit 256")]],
    ["exit -1", [sim("exit -1")]],
    ["exit 1.5", [sim("exit 1.5")]],
    ["exit 1 2", [sim("exit 1 2")]],
    // trap
    ["trap '' TERM", [{ op: "trap_term" }]],
    ['trap "" TERM', [{ op: "trap_term" }]],
    ['trap "" SIGTERM', [{ op: "trap_term" }]],
    ["trap TERM", [sim("trap TERM")]],
    ["trap 'echo x' TERM", [sim("trap 'echo x' TERM")]],
    ["trap '' INT", [sim("trap '' INT")]],
    // everything else
    ["make build", [sim("make build")]],
    ["  npm test  ", [sim("npm test")]],
    ["Echo hi", [sim("Echo hi")]],
    ["rm -rf / ; exit 1", [sim("rm -rf /"), { op: "exit", code: 1 }]],
  ];

  it.each(cases)("%j", (run, expected) => {
    expect(parseScript(run)).toEqual(expected);
  });
});
