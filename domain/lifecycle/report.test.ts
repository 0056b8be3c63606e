import { describe, expect, it } from "vitest";
import { decideReport, type Report, type ReportDecision } from "./report.ts";
import { CONCLUSIONS, type Conclusion, type JobStatus } from "./types.ts";

type Current = { status: JobStatus; conclusion: Conclusion | null };

// Every current status: open ones, `completed` with each conclusion, and the other terminals.
const currents: Current[] = [
  { status: "queued", conclusion: null },
  { status: "running", conclusion: null },
  ...CONCLUSIONS.map((c): Current => ({ status: "completed", conclusion: c })),
  { status: "cancelled", conclusion: "cancelled" },
  { status: "skipped", conclusion: "skipped" },
];

// Every report kind a runner may send.
const reports: Report[] = [
  { status: "running" },
  ...CONCLUSIONS.filter((c): c is Exclude<Conclusion, "cancelled"> => c !== "cancelled").map(
    (conclusion): Report => ({ status: "completed", conclusion }),
  ),
  { status: "cancelled" },
  { status: "skipped" },
];

/** The terminal (status, conclusion) a report asks for, or null for `running`. */
function target(r: Report): { status: "completed" | "cancelled" | "skipped"; conclusion: Conclusion } | null {
  if (r.status === "running") return null;
  if (r.status === "completed") return { status: "completed", conclusion: r.conclusion };
  return { status: r.status, conclusion: r.status };
}

/**
 * The rule of the module's doc comment, written out independently:
 * open → running (queued starts; running→running is a harmless repeat) | terminal;
 * terminal + the same terminal → noop; terminal + anything else → conflict.
 */
function expected(cur: Current, r: Report): ReportDecision["outcome"] {
  const open = cur.status === "queued" || cur.status === "running";
  const t = target(r);
  if (open) {
    if (t) return "finish";
    return cur.status === "queued" ? "start" : "noop";
  }
  if (t && t.status === cur.status && t.conclusion === cur.conclusion) return "noop";
  return "conflict";
}

const label = (x: { status: string; conclusion?: string | null }) =>
  x.conclusion ? `${x.status}/${x.conclusion}` : x.status;

const matrix = currents.flatMap((cur) => reports.map((r) => [label(cur), label(r), cur, r] as const));

describe("decideReport: every current status × every report", () => {
  it("matrix is complete (11 current states × 9 report kinds)", () => {
    expect(currents).toHaveLength(11);
    expect(reports).toHaveLength(9);
    expect(matrix).toHaveLength(99);
  });

  it.each(matrix)("%s + report %s", (_c, _r, cur, r) => {
    const d = decideReport(cur, r);
    const want = expected(cur, r);
    expect(d.outcome).toBe(want);
    if (d.outcome === "finish") {
      // The decision carries exactly the reported terminal state.
      expect({ status: d.status, conclusion: d.conclusion }).toEqual(target(r));
    }
    if (d.outcome === "conflict") {
      expect(d.message).toBe(`already ${cur.status}`);
    }
  });
});

describe("decideReport: anchor cases written by hand", () => {
  const rows: [string, Current, Report, ReportDecision][] = [
    ["queued starts", { status: "queued", conclusion: null }, { status: "running" }, { outcome: "start" }],
    ["running repeat is a noop", { status: "running", conclusion: null }, { status: "running" }, { outcome: "noop" }],
    [
      "queued may end directly",
      { status: "queued", conclusion: null },
      { status: "cancelled" },
      { outcome: "finish", status: "cancelled", conclusion: "cancelled" },
    ],
    [
      "running finishes with failure",
      { status: "running", conclusion: null },
      { status: "completed", conclusion: "failure" },
      { outcome: "finish", status: "completed", conclusion: "failure" },
    ],
    [
      "running is skipped",
      { status: "running", conclusion: null },
      { status: "skipped" },
      { outcome: "finish", status: "skipped", conclusion: "skipped" },
    ],
    [
      "same terminal repeat",
      { status: "completed", conclusion: "success" },
      { status: "completed", conclusion: "success" },
      { outcome: "noop" },
    ],
    [
      "success never becomes failure",
      { status: "completed", conclusion: "success" },
      { status: "completed", conclusion: "failure" },
      { outcome: "conflict", message: "already completed" },
    ],
    [
      "cancelled never becomes success",
      { status: "cancelled", conclusion: "cancelled" },
      { status: "completed", conclusion: "success" },
      { outcome: "conflict", message: "already cancelled" },
    ],
    [
      "cancelled repeat",
      { status: "cancelled", conclusion: "cancelled" },
      { status: "cancelled" },
      { outcome: "noop" },
    ],
    [
      "terminal never goes back to running",
      { status: "skipped", conclusion: "skipped" },
      { status: "running" },
      { outcome: "conflict", message: "already skipped" },
    ],
    [
      "skipped repeat",
      { status: "skipped", conclusion: "skipped" },
      { status: "skipped" },
      { outcome: "noop" },
    ],
    [
      "completed/skipped is not the same state as skipped",
      { status: "completed", conclusion: "skipped" },
      { status: "skipped" },
      { outcome: "conflict", message: "already completed" },
    ],
  ];

  it.each(rows)("%s", (_name, cur, r, want) => {
    expect(decideReport(cur, r)).toEqual(want);
  });
});
