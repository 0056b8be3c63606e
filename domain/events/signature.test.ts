import { Webhooks, type EmitterWebhookEvent } from "@octokit/webhooks";
import { describe, expect, it } from "vitest";
import { signature256 } from "./signature.ts";

// A receiver written for GitHub checks our signature with its own code: Octokit's.

const SECRET = "hook-secret-6f1c";
const body = JSON.stringify({ action: "queued", workflow_job: { id: 501, run_id: 41, status: "queued" } });

describe("signature256", () => {
  it("is GitHub's documented example", () => {
    // docs.github.com, "Validating webhook deliveries": this secret and body, this signature.
    expect(signature256("It's a Secret to Everybody", "Hello, World!")).toBe("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  });

  it("is what Octokit signs", async () => {
    expect(signature256(SECRET, body)).toBe(await new Webhooks({ secret: SECRET }).sign(body));
  });

  it("verifies with the hook's secret, not another's, and not for a changed body", async () => {
    const hooks = new Webhooks({ secret: SECRET });
    expect(await hooks.verify(body, signature256(SECRET, body))).toBe(true);
    expect(await hooks.verify(body, signature256("another-secret", body))).toBe(false);
    expect(await hooks.verify(body.replace("501", "502"), signature256(SECRET, body))).toBe(false);
  });

  it("a receiver accepts a delivery signed with its secret and refuses one signed with another", async () => {
    const hooks = new Webhooks({ secret: SECRET });
    const received: EmitterWebhookEvent<"workflow_job">[] = [];
    hooks.on("workflow_job.queued", (e) => { received.push(e); });
    const delivery = (secret: string) => ({ id: "7f7e3c1a-3b6a-4c55-9a3e-0d3f8b2c1e11", name: "workflow_job", payload: body, signature: signature256(secret, body) });

    await hooks.verifyAndReceive(delivery(SECRET));
    expect(received.map((e) => [e.id, e.payload.action, e.payload.workflow_job.id])).toEqual([["7f7e3c1a-3b6a-4c55-9a3e-0d3f8b2c1e11", "queued", 501]]);

    await expect(hooks.verifyAndReceive(delivery("another-secret"))).rejects.toThrow(/signature does not match/);
    expect(received).toHaveLength(1);
  });
});
