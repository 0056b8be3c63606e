import http from "node:http";

// A lean HTTP client for load: node:http with keep-alive sockets. fetch (undici) costs the
// load generator several times more CPU per request, and the generator shares the machine
// with what it measures.

export interface Answer {
  status: number;
  body: string;
}

export function httpClient(maxSockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  function request(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, agent, headers: body === undefined ? headers : { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (data += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }
  return { request, close: () => agent.destroy() };
}

export type HttpClient = ReturnType<typeof httpClient>;
