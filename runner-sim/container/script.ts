// The tiny command language a simulated container understands (docs/runner-protocol.md, "The simulator"; docs/decisions.md 14).
// It is parsed here, in the runner, so the container process only executes a
// validated list; nothing is ever handed to a shell.

export type Command =
  | { op: "echo"; text: string }
  | { op: "sleep"; seconds: number }
  | { op: "exit"; code: number }
  | { op: "trap_term" }
  | { op: "simulated"; text: string };

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;
const INTEGER = /^\d+$/;
const TERM_NAMES = new Set(["TERM", "SIGTERM"]);

export function parseScript(run: string): Command[] {
  return splitCommands(run).map(parseCommand);
}

/**
 * Splits on `;` outside quotes and on every newline. A newline always splits
 * (and forgets any open quote) so one stray apostrophe — `echo don't` — spoils
 * only its own line instead of swallowing the rest of the script.
 */
export function splitCommands(run: string): string[] {
  const out: string[] = [];
  for (const line of run.split(/\r?\n/)) {
    let quote: string | null = null;
    let start = 0;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quote !== null) {
        if (c === quote) quote = null;
      } else if (c === "'" || c === '"') {
        quote = c;
      } else if (c === ";") {
        out.push(line.slice(start, i));
        start = i + 1;
      }
    }
    out.push(line.slice(start));
  }
  return out.map((c) => c.trim()).filter((c) => c !== "");
}

/**
 * Shell-like word splitting: whitespace separates words, quotes group and are
 * removed (one level), adjacent parts join (`a"b"` → `ab`), and `''` is an empty
 * word. No escapes or expansions. Returns null for an unterminated quote.
 */
export function splitWords(command: string): string[] | null {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (const c of command) {
    if (quote !== null) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote !== null) return null;
  if (word !== null) words.push(word);
  return words;
}

function parseCommand(text: string): Command {
  const words = splitWords(text);
  const parsed = words === null ? null : interpret(words);
  return parsed ?? { op: "simulated", text };
}

function interpret([name, ...args]: string[]): Command | null {
  switch (name) {
    case "echo":
      return { op: "echo", text: args.join(" ") };
    case "sleep":
      return args.length === 1 ? sleepCommand(args[0]!) : null;
    case "exit":
      if (args.length === 0) return { op: "exit", code: 0 };
      return args.length === 1 ? exitCommand(args[0]!) : null;
    case "trap":
      return args.length === 2 && args[0] === "" && TERM_NAMES.has(args[1]!) ? { op: "trap_term" } : null;
    default:
      return null;
  }
}

function sleepCommand(arg: string): Command | null {
  const seconds = Number(arg);
  return DECIMAL.test(arg) && Number.isFinite(seconds) ? { op: "sleep", seconds } : null;
}

function exitCommand(arg: string): Command | null {
  const code = Number(arg);
  return INTEGER.test(arg) && code <= 255 ? { op: "exit", code } : null;
}
