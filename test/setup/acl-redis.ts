import { PrivateRedis, type AclUrls } from "../../chaos/infra.ts";
import type { AclRole } from "../../core/redis-acl.ts";

// Tests that run the service's processes as production does: a private redis-server (on a
// free loopback port, stopped at the end) with the ACL users of core/redis-acl.ts, and a
// Redis URL per role. The shared Redis of the test run has no such users.

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
