import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { timingSafeEqual } from "node:crypto";
import { parseArgs } from "node:util";
import { signature256 } from "../domain/events/signature.ts";

// `npm run -s hook-receiver -- [--port N] [--secret S]`: a webhook receiver for trying
// hooks out on one machine (README, "Webhooks"). Its first line is its URL; then one line
// per delivery: event, action, what it is about, the delivery's guid, and whether the
// signature matched the secret. It answers 200 to every POST.

const { values } = parseArgs({ options: { port: { type: "string", default: "0" }, secret: { type: "string" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("hook-receiver: --port must be 0 to 65535");
  process.exit(2);
}

function signatureOk(body: string, given: string | undefined): "ok" | "bad" | "none" {
  if (values.secret === undefined || given === undefined) return "none";
  const want = Buffer.from(signature256(values.secret, body));
  const got = Buffer.from(given);
  return want.length === got.length && timingSafeEqual(want, got) ? "ok" : "bad";
}

function about(p: Record<string, any>): string {
  if (p.workflow_job) return `job ${p.workflow_job.id} of run ${p.workflow_job.run_id}${p.workflow_job.conclusion ? ` ${p.workflow_job.conclusion}` : ""}`;
  if (p.workflow_run) return `run ${p.workflow_run.id}${p.workflow_run.conclusion ? ` ${p.workflow_run.conclusion}` : ""}`;
  return "";
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let payload: Record<string, any> = {};
    try {
      payload = JSON.parse(body) as Record<string, any>;
    } catch {
      // Not JSON: still answered, and said so.
    }
    const sig = signatureOk(body, req.headers["x-hub-signature-256"] as string | undefined);
    console.log(`${req.headers["x-github-event"] ?? "?"} ${payload.action ?? "?"} ${about(payload)} delivery ${req.headers["x-github-delivery"] ?? "?"} signature ${sig}`);
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
});
server.listen(port, "127.0.0.1", () => console.log(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`));
for (const s of ["SIGINT", "SIGTERM"] as const) process.on(s, () => server.close(() => process.exit(0)));
