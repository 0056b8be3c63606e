// For tests: a unix socket in front of the Docker engine's, to play an engine that goes away
// or hangs without touching the real one.

import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface EngineProxy {
  socket: string;
  /** Drops every open connection (new ones still reach the engine). */
  cut(): void;
  /** Keeps connections open but forwards nothing more either way. */
  freeze(): void;
  /** No more connections, every open one dropped: the engine is gone. */
  close(): void;
}

/** A unix socket forwarding to the engine, whose connections can be cut (an engine that goes away) or frozen (one that hangs). */
export async function engineProxy(target: string): Promise<EngineProxy> {
  const socket = path.join(os.tmpdir(), `docker-proxy-${process.pid}-${randomBytes(3).toString("hex")}.sock`);
  const conns = new Set<net.Socket>();
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    for (const s of [client, upstream]) {
      conns.add(s);
      s.on("error", () => {});
      s.on("close", () => conns.delete(s));
    }
    // Frozen: bytes are taken and dropped, connections stay open, nothing is answered.
    client.on("data", (d) => frozen || upstream.write(d));
    upstream.on("data", (d) => frozen || client.write(d));
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const cut = () => {
    for (const s of conns) s.destroy();
  };
  return { socket, cut, freeze: () => (frozen = true), close: () => (server.close(), cut(), rmSync(socket, { force: true })) };
}
