import { describe, expect, it } from "vitest";
import { MAX_SOURCE_BYTES, parseWorkflow, resolveGroup, type ParseResult, type WorkflowSpec } from "./workflow.ts";

const DESIGN_EXAMPLE = `name: CI
on: push
jobs:
  build:
    name: Build
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - name: Compile
        run: echo "compiling"; sleep 2
  test:
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - run: sleep 30
      - run: exit 1
`;

function ok(r: ParseResult): WorkflowSpec {
  if (!r.ok) throw new Error(`expected a valid workflow, got: ${r.errors.join("; ")}`);
  return r.workflow;
}
function errors(r: ParseResult): string[] {
  if (r.ok) throw new Error(`expected validation errors, got a workflow with ${r.workflow.jobs.length} jobs`);
  return r.errors;
}
/** A one-job workflow around the given job body (indented 4 spaces). */
function oneJob(body: string, key = "a"): string {
  return `on: push\njobs:\n  ${key}:\n${body.replace(/^/gm, "    ")}\n`;
}
const STEP = "steps:\n  - run: echo hi";

describe("parseWorkflow: the DESIGN §7 example", () => {
  it("parses into two jobs with needs, timeout, steps and default names", () => {
    expect(ok(parseWorkflow(DESIGN_EXAMPLE))).toEqual({
      name: "CI",
      jobs: [
        {
          key: "build",
          name: "Build",
          runsOn: "ubuntu-latest",
          needs: [],
          timeoutMinutes: 10,
          steps: [{ name: "Compile", run: 'echo "compiling"; sleep 2' }],
        },
        {
          key: "test",
          name: "test",
          runsOn: "ubuntu-latest",
          needs: ["build"],
          timeoutMinutes: 360,
          steps: [
            { name: "Run sleep 30", run: "sleep 30" },
            { name: "Run exit 1", run: "exit 1" },
          ],
        },
      ],
    });
  });
});

describe("parseWorkflow: accepted forms", () => {
  const rows: [string, string, (w: WorkflowSpec) => unknown, unknown][] = [
    ["runs-on string", oneJob(`runs-on: ubuntu-latest\n${STEP}`), (w) => w.jobs[0]?.runsOn, "ubuntu-latest"],
    [
      "runs-on array",
      oneJob(`runs-on: [self-hosted, linux]\n${STEP}`),
      (w) => w.jobs[0]?.runsOn,
      "self-hosted,linux",
    ],
    ["runs-on absent", oneJob(STEP), (w) => w.jobs[0]?.runsOn, ""],
    ["no workflow name", oneJob(STEP), (w) => w.name, null],
    ["job name defaults to key", oneJob(STEP, "lint_1-x"), (w) => w.jobs[0]?.name, "lint_1-x"],
    ["default timeout", oneJob(STEP), (w) => w.jobs[0]?.timeoutMinutes, 360],
    ["timeout max 4320", oneJob(`timeout-minutes: 4320\n${STEP}`), (w) => w.jobs[0]?.timeoutMinutes, 4320],
    [
      "needs as a string",
      "jobs:\n  a:\n    steps: [{run: x}]\n  b:\n    needs: a\n    steps: [{run: y}]\n",
      (w) => w.jobs[1]?.needs,
      ["a"],
    ],
    [
      "duplicate needs are collapsed",
      "jobs:\n  a:\n    steps: [{run: x}]\n  b:\n    needs: [a, a]\n    steps: [{run: y}]\n",
      (w) => w.jobs[1]?.needs,
      ["a"],
    ],
    [
      "default step name uses the first line",
      oneJob("steps:\n  - run: |\n      echo one\n      echo two"),
      (w) => w.jobs[0]?.steps[0],
      { name: "Run echo one", run: "echo one\necho two\n" },
    ],
    [
      "long default step names are cut to 80 characters",
      oneJob(`steps:\n  - run: echo ${"x".repeat(100)}`),
      (w) => w.jobs[0]?.steps[0]?.name,
      `Run echo ${"x".repeat(72)}...`,
    ],
    [
      "unknown keys are ignored",
      oneJob(`env: {A: b}\nif: always()\npermissions: read-all\nsteps:\n  - run: x\n    env: {C: d}`),
      (w) => w.jobs[0]?.steps,
      [{ name: "Run x", run: "x" }],
    ],
    [
      "jobs keep file order",
      "jobs:\n  zeta:\n    steps: [{run: x}]\n  alpha:\n    steps: [{run: x}]\n  mid:\n    steps: [{run: x}]\n",
      (w) => w.jobs.map((j) => j.key),
      ["zeta", "alpha", "mid"],
    ],
    [
      "diamond needs are not a cycle",
      "jobs:\n  a: {steps: [{run: x}]}\n  b: {needs: a, steps: [{run: x}]}\n  c: {needs: a, steps: [{run: x}]}\n  d: {needs: [b, c], steps: [{run: x}]}\n",
      (w) => w.jobs.map((j) => j.needs),
      [[], ["a"], ["a"], ["b", "c"]],
    ],
  ];
  it.each(rows)("%s", (_name, yaml, pick, want) => {
    expect(pick(ok(parseWorkflow(yaml)))).toEqual(want);
  });

  it("a file of exactly the maximum size is accepted", () => {
    const base = oneJob(STEP);
    const text = base + "#" + "x".repeat(MAX_SOURCE_BYTES - Buffer.byteLength(base) - 2) + "\n";
    expect(Buffer.byteLength(text)).toBe(MAX_SOURCE_BYTES);
    expect(ok(parseWorkflow(text)).jobs).toHaveLength(1);
  });
});

describe("parseWorkflow: validation errors", () => {
  const rows: [string, string, RegExp][] = [
    ["empty file", "", /^workflow: .*expected object/],
    ["no jobs key", "name: x\non: push\n", /^jobs: /],
    ["empty jobs", "jobs: {}\n", /^jobs: no jobs$/],
    ["unknown needs", "jobs:\n  a:\n    needs: [nope]\n    steps: [{run: x}]\n", /^jobs\.a\.needs: unknown job "nope"$/],
    [
      "needs naming an Object.prototype property",
      "jobs:\n  a:\n    needs: [hasOwnProperty]\n    steps: [{run: x}]\n",
      /^jobs\.a\.needs: unknown job "hasOwnProperty"$/,
    ],
    ["self-need", "jobs:\n  a:\n    needs: a\n    steps: [{run: x}]\n", /^jobs\.a\.needs: a job cannot need itself$/],
    [
      "cycle a→b→a",
      "jobs:\n  a:\n    needs: b\n    steps: [{run: x}]\n  b:\n    needs: a\n    steps: [{run: x}]\n",
      /^jobs: dependency cycle a -> b -> a$/,
    ],
    [
      "longer cycle",
      "jobs:\n  a: {needs: c, steps: [{run: x}]}\n  b: {needs: a, steps: [{run: x}]}\n  c: {needs: b, steps: [{run: x}]}\n",
      /^jobs: dependency cycle a -> c -> b -> a$/,
    ],
    ["job key starting with a digit", oneJob(STEP, "1bad"), /^jobs\.1bad: bad job key$/],
    ["job key with a space", oneJob(STEP, "has space"), /^jobs\.has space: bad job key$/],
    ["job key with a dot", oneJob(STEP, "a.b"), /^jobs\.a\.b: bad job key$/],
    ["job key __proto__", oneJob(STEP, "__proto__"), /^jobs\.__proto__: bad job key$/],
    ["step without run", oneJob("steps:\n  - name: Nothing"), /^jobs\.a\.steps\.0\.run: a step needs `run`$/],
    [
      "uses: step",
      oneJob("steps:\n  - uses: actions/checkout@v4"),
      /^jobs\.a\.steps\.0\.run: a step needs `run`$/,
    ],
    ["blank run", oneJob("steps:\n  - run: '   '"), /^jobs\.a\.steps\.0\.run: `run` is empty$/],
    ["empty steps", oneJob("steps: []"), /^jobs\.a\.steps: a job needs at least one step$/],
    ["missing steps", oneJob("runs-on: x"), /^jobs\.a\.steps: /],
    ["timeout 0", oneJob(`timeout-minutes: 0\n${STEP}`), /^jobs\.a\.timeout-minutes: /],
    ["timeout above 4320", oneJob(`timeout-minutes: 4321\n${STEP}`), /^jobs\.a\.timeout-minutes: /],
    ["timeout as a string", oneJob(`timeout-minutes: "10"\n${STEP}`), /^jobs\.a\.timeout-minutes: /],
    ["runs-on label with a space", oneJob(`runs-on: "ubuntu latest"\n${STEP}`), /^jobs\.a\.runs-on: /],
    ["runs-on label with a comma", oneJob(`runs-on: [a, "b,c"]\n${STEP}`), /^jobs\.a\.runs-on/],
    ["invalid YAML", "jobs: [\n", /^YAML: /],
    ["tab indentation", "jobs:\n\ta: 1\n", /^YAML: /],
    [
      "duplicate job keys",
      "jobs:\n  a:\n    steps: [{run: x}]\n  a:\n    steps: [{run: y}]\n",
      /^YAML: Map keys must be unique/,
    ],
    ["several documents", `${oneJob(STEP)}---\n${oneJob(STEP)}`, /^YAML: /],
    ["top-level list", "- a\n- b\n", /^workflow: /],
  ];
  it.each(rows)("%s", (_name, yaml, want) => {
    const errs = errors(parseWorkflow(yaml));
    expect(errs.some((e) => want.test(e)), `errors were: ${JSON.stringify(errs)}`).toBe(true);
  });

  it("a 600 KiB file is rejected before parsing", () => {
    const text = oneJob(STEP) + "#" + "x".repeat(600 * 1024) + "\n";
    expect(errors(parseWorkflow(text))).toEqual(["file too large"]);
  });

  it("size is counted in UTF-8 bytes, not characters", () => {
    // 300 Ki two-byte characters: 600 KiB, though fewer than MAX_SOURCE_BYTES characters.
    const text = oneJob(STEP) + "# " + "é".repeat(300 * 1024) + "\n";
    expect(text.length).toBeLessThan(MAX_SOURCE_BYTES);
    expect(errors(parseWorkflow(text))).toEqual(["file too large"]);
  });

  it("alias bombs are refused", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
    lines.push(oneJob(STEP).replace("on: push\n", ""));
    expect(errors(parseWorkflow(lines.join("\n")))[0]).toMatch(/^YAML: Excessive alias count/);
  });

  it("reports every problem of a file, not only the first", () => {
    const errs = errors(
      parseWorkflow("jobs:\n  a:\n    needs: [x]\n    steps: [{run: x}]\n  b:\n    needs: [y]\n    steps: [{run: x}]\n"),
    );
    expect(errs).toEqual(['jobs.a.needs: unknown job "x"', 'jobs.b.needs: unknown job "y"']);
  });
});

describe("concurrency", () => {
  const wf = (top: string, job = "") => `${top}jobs:\n  a:\n${job}    steps: [{run: x}]\n`;
  const ctx = { ref: "refs/heads/main", workflow: "CI", sha: "abc123", event: "push" };

  it("is absent unless written", () => {
    const w = ok(parseWorkflow(wf("")));
    expect(w.concurrency).toBeUndefined();
    expect(w.jobs[0]!.concurrency).toBeUndefined();
  });

  it("takes a string or {group, cancel-in-progress}, at workflow and job level", () => {
    expect(ok(parseWorkflow(wf("concurrency: deploy\n"))).concurrency).toEqual({ group: "deploy", cancelInProgress: false });
    expect(ok(parseWorkflow(wf("concurrency:\n  group: ci\n  cancel-in-progress: true\n"))).concurrency).toEqual({ group: "ci", cancelInProgress: true });
    expect(ok(parseWorkflow(wf("concurrency: {group: ci}\n"))).concurrency).toEqual({ group: "ci", cancelInProgress: false });
    const job = ok(parseWorkflow(wf("", "    concurrency: {group: db, cancel-in-progress: true}\n"))).jobs[0]!;
    expect(job.concurrency).toEqual({ group: "db", cancelInProgress: true });
    expect(ok(parseWorkflow(wf("", "    concurrency: db\n"))).jobs[0]!.concurrency).toEqual({ group: "db", cancelInProgress: false });
  });

  it("keeps the expressions for creation time, and substitutes the run's values then", () => {
    const w = ok(parseWorkflow(wf("concurrency: ${{ github.workflow }}-${{github.ref}}\n")));
    expect(w.concurrency!.group).toBe("${{ github.workflow }}-${{github.ref}}");
    expect(resolveGroup(w.concurrency!.group, ctx)).toBe("CI-refs/heads/main");
    expect(resolveGroup("${{ github.sha }}/${{ github.event_name }}/${{ github.sha }}", ctx)).toBe("abc123/push/abc123");
    expect(resolveGroup("plain", ctx)).toBe("plain");
    // A value that looks like an expression is not expanded again.
    expect(resolveGroup("${{ github.ref }}", { ...ctx, ref: "${{ github.sha }}" })).toBe("${{ github.sha }}");
  });

  it("refuses other expressions, bad shapes and empty groups with clear messages", () => {
    expect(errors(parseWorkflow(wf("concurrency: ${{ github.actor }}\n")))).toEqual([
      'concurrency: unsupported expression "${{ github.actor }}" (only github.ref, github.workflow, github.sha and github.event_name)',
    ]);
    expect(errors(parseWorkflow(wf("", "    concurrency: x-${{ toString }}\n")))[0]).toMatch(/^jobs\.a\.concurrency: unsupported expression/);
    expect(errors(parseWorkflow(wf("concurrency: x-${{ github.ref\n")))).toEqual(['concurrency: unterminated expression "${{"']);
    expect(errors(parseWorkflow(wf("concurrency:\n  group: ci\n  cancel-in-progress: ${{ true }}\n"))).join()).toMatch(/cancel-in-progress/);
    expect(errors(parseWorkflow(wf("concurrency: {cancel-in-progress: true}\n"))).join()).toMatch(/group/);
    expect(errors(parseWorkflow(wf("concurrency: {group: ci, queue: max}\n"))).join()).toMatch(/concurrency/);
    expect(errors(parseWorkflow(wf("concurrency: '  '\n"))).join()).toMatch(/concurrency/);
    expect(errors(parseWorkflow(wf("concurrency: 42\n"))).join()).toMatch(/concurrency/);
  });
});
