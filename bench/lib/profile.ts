import { readFileSync } from "node:fs";

// Summarises a V8 .cpuprofile: self time by function and by package, so a profile can be
// read without a browser. `npx tsx bench/lib/profile.ts FILE [TOP]`.

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export function summarizeProfile(file: string, top = 25) {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const url = n.callFrame.url;
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    const where = m ? m[1]! : url.startsWith("node:") ? "node-internal" : url.includes("/work/") ? "project" : n.callFrame.functionName ? "native/v8" : `(${n.callFrame.functionName || "program"})`;
    const key = `${n.callFrame.functionName || "(anon)"} ${url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    pkg.set(where, (pkg.get(where) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`;
  const wall = (p.endTime - p.startTime) / 1e6;
  console.log(`${file}: wall ${wall.toFixed(1)} s, sampled ${(total / 1e6).toFixed(1)} s`);
  for (const [k, v] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(v).padStart(6)}  ${k}`);
  console.log("  --");
  for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(v).padStart(6)}  ${k}`);
}

if (import.meta.url === `file://${process.argv[1]}`) summarizeProfile(process.argv[2]!, Number(process.argv[3] ?? 25));
