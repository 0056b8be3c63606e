import { Redis } from "ioredis";
import { PrivateRedis, type AclUrls } from "../../chaos/infra.ts";
import type { AclRole } from "../../infra/redis-acl.ts";

// Tests that run the service's processes as production does: a private redis-server (on a
// free loopback port, stopped at the end) with the ACL users of infra/redis-acl.ts, and a
// Redis URL per role. The shared Redis of the test run has no such users. Redis' default
// user needs the admin's password there (PrivateRedis), so a process whose AUTH fails gets
// nothing rather than falling back to an open default user (docs/security.md).

export interface AclRedis {
  prefix: string;
  /** The admin's URL (Redis' default user): for assertions, never for a service process. */
  adminUrl: string;
  urls: Record<AclRole, string>;
  server: PrivateRedis;
  /** ACL LOG entries since the users were set: every command the server refused. */
  denials(): Promise<Record<string, string>[]>;
  stop(): Promise<void>;
}

export async function startAclRedis(prefix: string): Promise<AclRedis> {
  const server = await PrivateRedis.create();
  let acl: AclUrls;
  try {
    acl = await server.applyAcl(prefix);
    await refusesAnonymous(server.port);
  } catch (e) {
    await server.dispose();
    throw e;
  }
  return {
    prefix,
    adminUrl: acl.admin,
    urls: { api: acl.api, worker: acl.worker, runner: acl.runner },
    server,
    denials: () => server.aclDenials(),
    stop: () => server.dispose(),
  };
}

/** What a client that starts without AUTH gets on port `port`, command after command, on one connection. */
export async function anonymousAnswers(port: number, commands: string[][] = [["PING"]]): Promise<string[]> {
  const c = new Redis({ host: "127.0.0.1", port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  c.on("error", () => {});
  try {
    await c.connect();
    const out: string[] = [];
    for (const [cmd, ...args] of commands) out.push(await c.call(cmd!, ...args).then((r) => `served: ${String(r)}`, (e: Error) => e.message));
    return out;
  } finally {
    c.disconnect();
  }
}

async function refusesAnonymous(port: number): Promise<void> {
  const [answer] = await anonymousAnswers(port);
  if (!answer!.startsWith("NOAUTH")) throw new Error(`the private Redis on ${port} serves clients without AUTH (${answer}): its default user is open`);
}
