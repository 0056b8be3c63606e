import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

// Writes test/fixtures/github-openapi-subset.json: the part of GitHub's published REST
// description (@octokit/openapi, api.github.com) that our /api/v3 mirrors, so tests can
// check a response against GitHub's own schema without loading the 13 MB description.
// Run: `npx tsx scripts/github-openapi-subset.ts`. test/github-schema.test.ts regenerates
// it in memory and fails when the committed file differs.
//
// The description is OpenAPI 3.0.3, whose schemas are not JSON Schema; these patches turn
// the kept schemas into draft-07 JSON Schema that ajv validates as GitHub means them:
//   nullable-type       `nullable: true` + `type: T`   -> `type: [T, "null"]`
//   nullable-enum       `nullable: true` + an enum without null -> null added to the enum
//                       (else ajv rejects the null that GitHub returns, e.g. job.conclusion)
//   nullable-composite  `nullable: true` without `type` (allOf/anyOf/oneOf) -> anyOf [it, null]
//   ref-siblings        keywords beside a `$ref` dropped (OpenAPI 3.0 ignores them; ajv would not)
//   openapi-keyword     OpenAPI-only keywords dropped: example, discriminator, xml, externalDocs, x-*
//   stray-object-keyword `additionalProperties` beside a non-object `type` dropped (it means
//                       nothing there; strict ajv refuses it, e.g. hook-delivery's response.payload)
// The file lists each kind with how many times it applied.

export const OPERATIONS = [
  "GET /repos/{owner}/{repo}/actions/runs",
  "GET /repos/{owner}/{repo}/actions/runs/{run_id}",
  "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}",
  "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
  "GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs",
  "POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel",
  "POST /repos/{owner}/{repo}/actions/runs/{run_id}/force-cancel",
  "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun",
  "POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs",
  "POST /repos/{owner}/{repo}/actions/jobs/{job_id}/rerun",
  "GET /repos/{owner}/{repo}/actions/jobs/{job_id}",
  "GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
  "GET /repos/{owner}/{repo}/actions/runs/{run_id}/logs",
  "GET /repos/{owner}/{repo}/actions/workflows",
  "GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}",
  "GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
  "GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
  "GET /repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
  "GET /repos/{owner}/{repo}/hooks",
  "POST /repos/{owner}/{repo}/hooks",
  "GET /repos/{owner}/{repo}/hooks/{hook_id}",
  "PATCH /repos/{owner}/{repo}/hooks/{hook_id}",
  "DELETE /repos/{owner}/{repo}/hooks/{hook_id}",
  "GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries",
  "GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}",
  "POST /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts",
] as const;

// Kept even when no kept operation names it: the body of GitHub's error responses.
const ALWAYS_SCHEMAS = ["basic-error"];
const OPENAPI_ONLY = new Set(["example", "discriminator", "xml", "externalDocs"]);
const PATCH_KINDS = {
  "nullable-type": "OpenAPI 3.0 `nullable: true` with `type: T` became `type: [T, \"null\"]`",
  "nullable-enum": "null added to the enum of a nullable schema (ajv would reject null otherwise)",
  "nullable-composite": "nullable schema without `type` (allOf/anyOf/oneOf) became `anyOf: [schema, {type: null}]`",
  "ref-siblings": "keywords beside `$ref` dropped (OpenAPI 3.0 ignores them, JSON Schema would apply them)",
  "openapi-keyword": "OpenAPI-only keywords dropped (example, discriminator, xml, externalDocs, x-*)",
  "stray-object-keyword": "`additionalProperties` beside a non-object `type` dropped (meaningless there; strict ajv refuses it)",
} as const;
type PatchKind = keyof typeof PATCH_KINDS;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export interface Source {
  version: string;
  doc: Obj;
}

const require = createRequire(import.meta.url);

/** The api.github.com description and the @octokit/openapi version it came from. */
export function loadGitHubDescription(): Source {
  const pkgPath = require.resolve("@octokit/openapi/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { version: string };
  const doc = JSON.parse(readFileSync(new URL("generated/api.github.com.json", `file://${pkgPath}`), "utf8")) as Obj;
  return { version: pkg.version, doc };
}

function at(doc: Obj, ref: string): Json {
  let cur: Json = doc;
  for (const part of ref.replace(/^#\//, "").split("/")) {
    const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isObj(cur) || !(key in cur)) throw new Error(`unresolved $ref ${ref}`);
    cur = cur[key]!;
  }
  return cur;
}

/** Every `$ref` string anywhere under v. */
function refsIn(v: Json, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(v)) for (const x of v) refsIn(x, out);
  else if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (k === "$ref" && typeof x === "string") out.add(x);
      else refsIn(x, out);
    }
  }
  return out;
}

/** The operation's responses and JSON request body, with its identifying fields. */
function pickOperation(doc: Obj, key: string): Obj {
  const [method, path] = key.split(" ") as [string, string];
  const item = (doc.paths as Obj)[path];
  const op = isObj(item) ? item[method.toLowerCase()] : undefined;
  if (!isObj(op)) throw new Error(`${key}: not in the GitHub description`);
  const kept: Obj = { operationId: op.operationId!, responses: op.responses! };
  const body = isObj(op.requestBody) ? op.requestBody : null;
  if (body && isObj(body.content) && body.content["application/json"]) kept.requestBody = body;
  return kept;
}

/** Follows $refs from the roots until every component they reach is kept. */
function collectComponents(doc: Obj, roots: Json[]): Obj {
  const pending = [...roots.flatMap((r) => [...refsIn(r)]), ...ALWAYS_SCHEMAS.map((n) => `#/components/schemas/${n}`)];
  const seen = new Set<string>();
  const components: Record<string, Obj> = {};
  while (pending.length > 0) {
    const ref = pending.pop()!;
    if (seen.has(ref)) continue;
    seen.add(ref);
    const m = /^#\/components\/([^/]+)\/([^/]+)$/.exec(ref);
    if (!m) throw new Error(`unexpected $ref ${ref}`);
    const [, section, name] = m as unknown as [string, string, string];
    const target = at(doc, ref);
    (components[section] ??= {})[name] = target;
    pending.push(...refsIn(target));
  }
  return sortKeys(components) as Obj;
}

function sortKeys(v: Json): Json {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isObj(v)) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k]!)]));
}

class Patcher {
  counts: Record<PatchKind, number> = { "nullable-type": 0, "nullable-enum": 0, "nullable-composite": 0, "ref-siblings": 0, "openapi-keyword": 0, "stray-object-keyword": 0 };

  /** A schema object converted to draft-07 JSON Schema (recursing into subschemas). */
  schema(s: Json): Json {
    if (!isObj(s)) return s;
    if (typeof s.$ref === "string") {
      if (Object.keys(s).length > 1) this.counts["ref-siblings"]++;
      return { $ref: s.$ref };
    }
    const out: Obj = {};
    for (const [k, v] of Object.entries(s)) {
      if (OPENAPI_ONLY.has(k) || k.startsWith("x-")) this.counts["openapi-keyword"]++;
      else if (k === "properties" && isObj(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, x]) => [p, this.schema(x)]));
      else if (["items", "additionalProperties", "not"].includes(k)) out[k] = this.schema(v);
      else if (["allOf", "anyOf", "oneOf"].includes(k) && Array.isArray(v)) out[k] = v.map((x) => this.schema(x));
      else out[k] = v;
    }
    if (typeof out.type === "string" && out.type !== "object" && "additionalProperties" in out) {
      delete out.additionalProperties;
      this.counts["stray-object-keyword"]++;
    }
    return this.nullable(out);
  }

  private nullable(s: Obj): Obj {
    if (s.nullable === undefined) return s;
    const { nullable, ...rest } = s;
    if (nullable !== true) return rest;
    if (Array.isArray(rest.enum) && !rest.enum.includes(null)) {
      rest.enum = [...rest.enum, null];
      this.counts["nullable-enum"]++;
    }
    if (typeof rest.type === "string") {
      this.counts["nullable-type"]++;
      return { ...rest, type: [rest.type, "null"] };
    }
    this.counts["nullable-composite"]++;
    const { description, title, ...inner } = rest;
    const meta: Obj = {};
    if (description !== undefined) meta.description = description;
    if (title !== undefined) meta.title = title;
    return { ...meta, anyOf: [inner, { type: "null" }] };
  }

  /** A response or request body reduced to its description and JSON Schemas (no headers, no examples). */
  inMedia(holder: Json): Json {
    if (!isObj(holder) || typeof holder.$ref === "string") return holder;
    const head: Obj = {};
    for (const k of ["description", "required"]) if (holder[k] !== undefined) head[k] = holder[k]!;
    if (!isObj(holder.content)) return head;
    const content = Object.fromEntries(
      Object.entries(holder.content).map(([ct, media]) => [ct, (isObj(media) && media.schema ? { schema: this.schema(media.schema) } : {}) as Obj]),
    );
    return { ...head, content };
  }
}

function patchOperation(p: Patcher, op: Obj): Obj {
  const responses = Object.fromEntries(
    Object.entries(op.responses as Obj).map(([status, r]) => [status, isObj(r) && r.$ref ? { $ref: r.$ref } : p.inMedia(r)]),
  );
  const out: Obj = { operationId: op.operationId!, responses };
  if (op.requestBody) out.requestBody = p.inMedia(op.requestBody);
  return out;
}

/** The subset file's content, from the description and its package version. */
export function buildSubset(src: Source): Obj {
  const openapi = String(src.doc.openapi);
  // 3.1 schemas are already JSON Schema 2020-12: they would need Ajv2020 and no nullable patches.
  if (!openapi.startsWith("3.0.")) throw new Error(`GitHub description is OpenAPI ${openapi}; the patches here assume 3.0`);
  const p = new Patcher();
  // Patched first: that drops response headers and examples, so their components are not kept.
  const operations = Object.fromEntries(OPERATIONS.map((key) => [key, patchOperation(p, pickOperation(src.doc, key))]));
  const components = collectComponents(src.doc, Object.values(operations));
  const patched: Obj = {};
  for (const [section, entries] of Object.entries(components)) {
    const f = section === "schemas" ? (x: Json) => p.schema(x) : (x: Json) => p.inMedia(x);
    patched[section] = Object.fromEntries(Object.entries(entries as Obj).map(([n, x]) => [n, f(x)]));
  }
  const patches = (Object.keys(PATCH_KINDS) as PatchKind[]).map((kind) => ({ kind, count: p.counts[kind], what: PATCH_KINDS[kind] }));
  return {
    source: { package: "@octokit/openapi", version: src.version, file: "generated/api.github.com.json", openapi },
    generatedBy: "scripts/github-openapi-subset.ts",
    patches,
    operations: sortKeys(operations),
    components: sortKeys(patched),
  };
}

export const SUBSET_PATH = fileURLToPath(new URL("../test/fixtures/github-openapi-subset.json", import.meta.url));

export function serialize(subset: Obj): string {
  return `${JSON.stringify(subset, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const subset = buildSubset(loadGitHubDescription());
  writeFileSync(SUBSET_PATH, serialize(subset));
  const n = Object.keys((subset.components as Obj).schemas as Obj).length;
  console.log(`wrote ${SUBSET_PATH}: ${OPERATIONS.length} operations, ${n} schemas`);
  for (const { kind, count } of subset.patches as { kind: string; count: number }[]) console.log(`  ${kind}: ${count}`);
}
