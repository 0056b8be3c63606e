import net from "node:net";
import { describe, expect, it } from "vitest";
import { RunnerClient } from "./client.ts";

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe("RunnerClient.register", () => {
  it("names the API, its address and API_URL in one line when the API never answers", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const err = await new RunnerClient(url, 2).register("x".repeat(24), { name: "r", labels: ["l"], capacity: 1 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(new RegExp(`^The API is unreachable at ${url} \\(API_URL\\): .*ECONNREFUSED.* — start the API \\(npm run start:api\\) or set API_URL$`));
    expect((err as Error).message).not.toContain("x".repeat(24));
  });
});
