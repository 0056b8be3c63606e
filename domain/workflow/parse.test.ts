import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { MAX_SOURCE_BYTES, parseWorkflow, resolveGroup, type ParseResult, type WorkflowSpec } from "./parse.ts";

const TWO_JOB_EXAMPLE = `name: CI
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
  const withLabels = body.includes("runs-on") ? body : `runs-on: x\n${body}`;
  return `on: push\njobs:\n  ${key}:\n${withLabels.replace(/^/gm, "    ")}\n`;
}
const STEP = "steps:\n  - run: echo hi";

describe("parseWorkflow: the two-job example (build, then test)", () => {
  it("parses into two jobs with needs, timeout, steps and default names", () => {
    expect(ok(parseWorkflow(TWO_JOB_EXAMPLE))).toEqual({
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
    ["no workflow name", oneJob(STEP), (w) => w.name, null],
    ["job name defaults to key", oneJob(STEP, "lint_1-x"), (w) => w.jobs[0]?.name, "lint_1-x"],
    ["default timeout", oneJob(STEP), (w) => w.jobs[0]?.timeoutMinutes, 360],
    ["timeout max 4320", oneJob(`timeout-minutes: 4320\n${STEP}`), (w) => w.jobs[0]?.timeoutMinutes, 4320],
    [
      "needs as a string",
      "jobs:\n  a:\n    runs-on: x\n    steps: [{run: x}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{run: y}]\n",
      (w) => w.jobs[1]?.needs,
      ["a"],
    ],
    [
      "duplicate needs are collapsed",
      "jobs:\n  a:\n    runs-on: x\n    steps: [{run: x}]\n  b:\n    needs: [a, a]\n    runs-on: x\n    steps: [{run: y}]\n",
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
      "keys that change nothing about what runs are ignored",
      `on: push\nenv: {Z: y}\npermissions: read-all\ndefaults: {run: {shell: bash}}\nrun-name: r\njobs:\n  a:\n    runs-on: x\n    env: {A: b}\n    permissions: read-all\n` +
        `    environment: prod\n    outputs: {o: v}\n    steps:\n      - run: x\n        id: s\n        env: {C: d}\n        shell: bash\n        working-directory: w\n        timeout-minutes: 3\n`,
      (w) => w.jobs[0]?.steps,
      [{ name: "Run x", run: "x" }],
    ],
    [
      "jobs keep file order",
      "jobs:\n  zeta:\n    runs-on: x\n    steps: [{run: x}]\n  alpha:\n    runs-on: x\n    steps: [{run: x}]\n  mid:\n    runs-on: x\n    steps: [{run: x}]\n",
      (w) => w.jobs.map((j) => j.key),
      ["zeta", "alpha", "mid"],
    ],
    [
      "diamond needs are not a cycle",
      "jobs:\n  a: {runs-on: x, steps: [{run: x}]}\n  b: {needs: a, runs-on: x, steps: [{run: x}]}\n  c: {needs: a, runs-on: x, steps: [{run: x}]}\n  d: {needs: [b, c], runs-on: x, steps: [{run: x}]}\n",
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
    ["unknown needs", "jobs:\n  a:\n    needs: [nope]\n    runs-on: x\n    steps: [{run: x}]\n", /^jobs\.a\.needs: unknown job "nope"$/],
    [
      "needs naming an Object.prototype property",
      "jobs:\n  a:\n    needs: [hasOwnProperty]\n    runs-on: x\n    steps: [{run: x}]\n",
      /^jobs\.a\.needs: unknown job "hasOwnProperty"$/,
    ],
    ["self-need", "jobs:\n  a:\n    needs: a\n    runs-on: x\n    steps: [{run: x}]\n", /^jobs\.a\.needs: a job cannot need itself$/],
    [
      "cycle a→b→a",
      "jobs:\n  a:\n    needs: b\n    runs-on: x\n    steps: [{run: x}]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{run: x}]\n",
      /^jobs: dependency cycle a -> b -> a$/,
    ],
    [
      "longer cycle",
      "jobs:\n  a: {needs: c, runs-on: x, steps: [{run: x}]}\n  b: {needs: a, runs-on: x, steps: [{run: x}]}\n  c: {needs: b, runs-on: x, steps: [{run: x}]}\n",
      /^jobs: dependency cycle a -> c -> b -> a$/,
    ],
    ["job key starting with a digit", oneJob(STEP, "1bad"), /^jobs\.1bad: bad job key$/],
    ["job key with a space", oneJob(STEP, "has space"), /^jobs\.has space: bad job key$/],
    ["job key with a dot", oneJob(STEP, "a.b"), /^jobs\.a\.b: bad job key$/],
    ["job key __proto__", oneJob(STEP, "__proto__"), /^jobs\.__proto__: bad job key$/],
    ["step without run", oneJob("steps:\n  - name: Nothing"), /^jobs\.a\.steps\.0\.run: a step needs `run`$/],
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
      "jobs:\n  a:\n    runs-on: x\n    steps: [{run: x}]\n  a:\n    runs-on: x\n    steps: [{run: y}]\n",
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
      parseWorkflow("jobs:\n  a:\n    needs: [x]\n    runs-on: x\n    steps: [{run: x}]\n  b:\n    needs: [y]\n    runs-on: x\n    steps: [{run: x}]\n"),
    );
    expect(errs).toEqual(['jobs.a.needs: unknown job "x"', 'jobs.b.needs: unknown job "y"']);
  });
});

describe("concurrency", () => {
  const wf = (top: string, job = "") => `${top}jobs:\n  a:\n${job}    runs-on: x\n    steps: [{run: x}]\n`;
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

describe("refused: what we would otherwise run differently from the file", () => {
  const rows: [string, string, string[]][] = [
    ["a uses: step", oneJob("steps:\n  - run: echo\n  - uses: actions/checkout@v4\n    with: {depth: 1}", "build"), [
      "step 2 of job build: `uses:` (actions) is not supported by this forge's runners; use `run:`",
      "step 2 of job build: `with:` is not supported (it only passes inputs to actions)",
    ]],
    ["a reusable workflow job", "jobs:\n  call:\n    uses: o/r/.github/workflows/x.yml@main\n", ["job call: `uses:` (reusable workflows) is not supported; write the job's steps with `run:`"]],
    ["a job if:", oneJob(`if: github.ref == 'main'\n${STEP}`), ["job a: `if:` is not supported (the job would run unconditionally)"]],
    ["a step if:", oneJob("steps:\n  - run: x\n    if: failure()"), ["step 1 of job a: `if:` is not supported (the step would always run)"]],
    ["services", oneJob(`services: {db: {image: postgres}}\n${STEP}`), ["job a: `services:` is not supported (the runners start no service containers)"]],
    ["container", oneJob(`container: node:20\n${STEP}`), ["job a: `container:` is not supported (the runners choose the container)"]],
    ["continue-on-error", oneJob(`continue-on-error: true\n${STEP}`), ["job a: `continue-on-error` is not supported (a failed job fails its run)"]],
    ["an unknown job key", oneJob(`runs_on: x\n${STEP}`), ["job a: unknown key `runs_on` (not understood here; see docs/workflows.md)"]],
    ["an unknown top-level key", `jobz: {}\n${oneJob(STEP)}`, ["workflow: unknown key `jobz` (not understood here; see docs/workflows.md)"]],
    ["an unknown step key", oneJob("steps:\n  - run: x\n    runn: y"), ["step 1 of job a: unknown key `runn` (not understood here; see docs/workflows.md)"]],
    ["no runs-on", "jobs:\n  lint:\n    steps: [{run: x}]\n", ["job lint: needs `runs-on` (the labels a runner must have, e.g. ubuntu-latest)"]],
    ["an expression in run", oneJob("steps:\n  - run: echo ${{ github.sha }}"), [
      'jobs.a.steps.0.run: unsupported expression "${{ github.sha }}" (only ${{ matrix.<axis> }} is understood here)',
    ]],
    ["an expression in a step name", oneJob("steps:\n  - run: x\n    name: ${{ secrets.X }}"), [
      'jobs.a.steps.0.name: unsupported expression "${{ secrets.X }}" (only ${{ matrix.<axis> }} is understood here)',
    ]],
    ["matrix outside a matrix", oneJob("steps:\n  - run: echo ${{ matrix.node }}"), ['jobs.a.steps.0.run: "${{ matrix.node }}" used in a job without `strategy.matrix`']],
    ["an unterminated expression", oneJob("steps:\n  - run: echo ${{ matrix.node"), ['jobs.a.steps.0.run: unterminated expression "${{"']],
    ["a label from an unknown expression", oneJob(`runs-on: \${{ inputs.os }}\n${STEP}`), [
      'jobs.a.runs-on: unsupported expression "${{ inputs.os }}" (only ${{ matrix.<axis> }} is understood here)',
    ]],
  ];
  it.each(rows)("%s", (_name, yaml, want) => {
    expect(errors(parseWorkflow(yaml))).toEqual(want);
  });
});

/** A one-job workflow whose job `build` has this strategy (indented 4 spaces). */
const matrixJob = (strategy: string, extra = "", steps = "steps:\n  - run: echo ${{ matrix.node }}") =>
  `jobs:\n  build:\n${`runs-on: x\n${extra}strategy:\n${strategy.replace(/^/gm, "  ")}\n${steps}`.replace(/^/gm, "    ")}\n`;

describe("strategy.matrix: expansion", () => {
  const rows: [string, string, string[]][] = [
    ["one axis", matrixJob("matrix:\n  node: [18, 20, 22]"), ["build (18)", "build (20)", "build (22)"]],
    ["two axes, first outermost", matrixJob("matrix:\n  node: [18, 20]\n  os: [ubuntu, debian]"), [
      "build (18, ubuntu)", "build (18, debian)", "build (20, ubuntu)", "build (20, debian)",
    ]],
    ["exclude", matrixJob("matrix:\n  node: [18, 20]\n  os: [ubuntu, debian]\n  exclude:\n    - {node: 18, os: debian}"), [
      "build (18, ubuntu)", "build (20, ubuntu)", "build (20, debian)",
    ]],
    ["exclude by one key", matrixJob("matrix:\n  node: [18, 20]\n  os: [ubuntu, debian]\n  exclude: [{os: debian}]"), ["build (18, ubuntu)", "build (20, ubuntu)"]],
    ["include extends the combinations it does not overwrite", matrixJob("matrix:\n  node: [18, 20]\n  include: [{node: 20, npm: 10}]"), [
      "build (18)", "build (20, 10)",
    ]],
    ["include that fits nothing adds a combination", matrixJob("matrix:\n  node: [18]\n  include: [{node: 22, os: arm}]"), ["build (18)", "build (22, arm)"]],
    ["include only", matrixJob("matrix:\n  include: [{node: 18}, {node: 20}]"), ["build (18)", "build (20)"]],
    ["booleans and strings", matrixJob("matrix:\n  exp: [true, false]\n  v: ['1.0']", "", "steps: [{run: x}]"), ["build (true, 1.0)", "build (false, 1.0)"]],
  ];
  it.each(rows)("%s", (_name, yaml, keys) => {
    const w = ok(parseWorkflow(yaml));
    expect(w.jobs.map((j) => j.key)).toEqual(keys);
    expect(w.jobs.map((j) => j.name)).toEqual(keys);
  });

  it("substitutes the values into steps, names and runs-on, and keeps the matrix on each job", () => {
    const w = ok(parseWorkflow(`jobs:\n  t:\n    name: Test on \${{ matrix.os }}\n    runs-on: \${{ matrix.os }}\n    strategy:\n      fail-fast: false\n      max-parallel: 1\n` +
      `      matrix: {os: [ubuntu, debian]}\n    steps:\n      - name: Node on \${{ matrix.os }}\n        run: echo \${{matrix.os}}; exit 0\n`));
    expect(w.jobs[1]).toEqual({
      key: "t (debian)", name: "Test on debian", runsOn: "debian", needs: [], timeoutMinutes: 360,
      steps: [{ name: "Node on debian", run: "echo debian; exit 0" }],
      matrix: { key: "t", values: { os: "debian" }, maxParallel: 1, failFast: false },
    });
    expect(w.jobs[0]!.matrix).toEqual({ key: "t", values: { os: "ubuntu" }, maxParallel: 1, failFast: false });
  });

  it("defaults: fail-fast on, no max-parallel; the default step name shows the substituted run", () => {
    const j = ok(parseWorkflow(matrixJob("matrix: {node: [18]}"))).jobs[0]!;
    expect(j.matrix).toEqual({ key: "build", values: { node: 18 }, maxParallel: null, failFast: true });
    expect(j.steps[0]).toEqual({ name: "Run echo 18", run: "echo 18" });
  });

  it("a need of a matrix job is every expansion of it", () => {
    const w = ok(parseWorkflow(`${matrixJob("matrix: {node: [18, 20]}")}  deploy:\n    needs: build\n    runs-on: x\n    steps: [{run: x}]\n`));
    expect(w.jobs.map((j) => [j.key, j.needs])).toEqual([["build (18)", []], ["build (20)", []], ["deploy", ["build (18)", "build (20)"]]]);
  });

  it("a matrix job may need another job, and its concurrency group may use its values", () => {
    const w = ok(parseWorkflow(`jobs:\n  a: {runs-on: x, steps: [{run: x}]}\n${matrixJob("matrix: {node: [18]}", "needs: a\nconcurrency: n-${{ matrix.node }}-${{ github.ref }}\n").replace("jobs:\n", "")}`));
    expect(w.jobs[1]).toMatchObject({ key: "build (18)", needs: ["a"], concurrency: { group: "n-18-${{ github.ref }}", cancelInProgress: false } });
  });

  it("allows 256 jobs in a matrix", () => {
    expect(ok(parseWorkflow(matrixJob(`matrix:\n  a: [${[...Array(16).keys()]}]\n  b: [${[...Array(16).keys()]}]`, "", "steps: [{run: x}]"))).jobs).toHaveLength(256);
  });
});

describe("strategy.matrix: refusals", () => {
  const rows: [string, string, RegExp][] = [
    ["257 jobs", matrixJob(`matrix:\n  a: [${[...Array(257).keys()]}]`), /^jobs\.build\.strategy\.matrix: the matrix gives 257 jobs; at most 256 are allowed$/],
    ["a huge product is refused before it is built", matrixJob(`matrix:\n  a: [${[...Array(100).keys()]}]\n  b: [${[...Array(100).keys()]}]\n  c: [${[...Array(100).keys()]}]`), /gives 1000000 jobs; at most 256/],
    ["all excluded", matrixJob("matrix:\n  node: [18]\n  exclude: [{node: 18}]"), /^jobs\.build\.strategy\.matrix: the matrix gives no jobs/],
    ["a matrix from an expression", matrixJob("matrix: ${{ fromJSON(needs.a.outputs.m) }}"), /a matrix from an expression .* is not supported/],
    ["an empty axis", matrixJob("matrix:\n  node: []"), /^jobs\.build\.strategy\.matrix\.node: an axis must be a non-empty list$/],
    ["an axis of objects", matrixJob("matrix:\n  node: [{v: 1}]"), /^jobs\.build\.strategy\.matrix\.node: axis values must be strings, numbers or booleans$/],
    ["no axes", matrixJob("matrix: {}"), /needs at least one axis or an `include`/],
    ["include not a list", matrixJob("matrix:\n  node: [1]\n  include: {node: 2}"), /^jobs\.build\.strategy\.matrix\.include: must be a list of mappings$/],
    ["an axis the job does not have", matrixJob("matrix: {node: [18]}", "", "steps:\n  - run: echo ${{ matrix.os }}"), /"\$\{\{ matrix\.os \}\}": the matrix has no axis `os`/],
    ["strategy without matrix", matrixJob("fail-fast: true"), /^jobs\.build\.strategy\.matrix: `strategy` needs `matrix`$/],
    ["an unknown strategy key", matrixJob("matrix: {node: [1]}\nparallel: 2"), /^jobs\.build\.strategy: .*parallel/],
    ["max-parallel 0", matrixJob("matrix: {node: [1]}\nmax-parallel: 0"), /^jobs\.build\.strategy\.max-parallel: /],
    ["fail-fast not a boolean", matrixJob("matrix: {node: [1]}\nfail-fast: 'no'"), /^jobs\.build\.strategy\.fail-fast: `fail-fast` must be true or false$/],
    ["two combinations, one name", matrixJob("matrix:\n  node: [18, '18']"), /two combinations give the same job "build \(18\)"/],
  ];
  it.each(rows)("%s", (_name, yaml, want) => {
    const errs = errors(parseWorkflow(yaml));
    expect(errs.some((e) => want.test(e)), `errors were: ${JSON.stringify(errs)}`).toBe(true);
  });
});

describe("examples/", () => {
  const read = (f: string) => readFileSync(new URL(`../../examples/${f}`, import.meta.url), "utf8");
  const rows: [string, string[]][] = [
    ["ci.yml", ["build", "test"]],
    ["matrix.yml", ["build (18)", "build (20)", "build (22)", "report"]],
    ["long.yml", ["long"]],
  ];
  it.each(rows)("%s parses into the jobs the docs describe", (file, keys) => {
    expect(ok(parseWorkflow(read(file))).jobs.map((j) => j.key)).toEqual(keys);
  });

  it("matrix.yml: fail-fast, max-parallel 2; long.yml sleeps 600; ci.yml fails with exit 1", () => {
    expect(ok(parseWorkflow(read("matrix.yml"))).jobs[0]!.matrix).toEqual({ key: "build", values: { node: 18 }, maxParallel: 2, failFast: true });
    expect(ok(parseWorkflow(read("long.yml"))).jobs[0]!.steps.map((st) => st.run)).toContain("sleep 600");
    expect(ok(parseWorkflow(read("ci.yml"))).jobs[1]!.steps.at(-1)!.run).toMatch(/exit 1$/);
  });
});
