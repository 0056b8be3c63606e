import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { expect } from "vitest";

// The oracle for our GitHub-compatible /api/v3: a body is checked against GitHub's own
// published schema for that operation and status, from the subset that
// scripts/github-openapi-subset.ts extracts (and patches from OpenAPI 3.0 to JSON Schema).
// Loaded and compiled once per test file, each validator on first use.

interface Media {
  schema?: unknown;
}
interface Response {
  $ref?: string;
  content?: Record<string, Media>;
}
interface Subset {
  operations: Record<string, { responses: Record<string, Response> }>;
  components: { schemas: Record<string, unknown>; responses?: Record<string, Response> };
}

const SUBSET = JSON.parse(readFileSync(new URL("../fixtures/github-openapi-subset.json", import.meta.url), "utf8")) as Subset;
const ROOT = "github-openapi-subset";

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = (addFormatsModule as unknown as { default: typeof addFormatsModule.default }).default;

/** The JSON body schema of a documented response; null when GitHub documents no body. */
function schemaOf(res: Response): unknown | null {
  const named = res.$ref ? SUBSET.components.responses?.[res.$ref.replace("#/components/responses/", "")] : res;
  if (!named) throw new Error(`unresolved response ${res.$ref}`);
  return named.content?.["application/json"]?.schema ?? null;
}

// Every documented body schema, by "METHOD /path STATUS": an index into the root's `bodies`.
const bodies: unknown[] = [];
const bodyIndex = new Map<string, number | null>();
for (const [operation, op] of Object.entries(SUBSET.operations)) {
  for (const [status, res] of Object.entries(op.responses)) {
    const schema = schemaOf(res);
    bodyIndex.set(`${operation} ${status}`, schema === null ? null : bodies.push(schema) - 1);
  }
}

function createAjv(): Ajv {
  // strict stays on (unknown keywords, formats and loose types throw at compile time), so a
  // patch the script misses shows up as a compile error, not as a schema silently ignored.
  // allowUnionTypes: the nullable patch writes `type: [T, "null"]`, which strictTypes
  // otherwise refuses. allErrors: a failing body lists every mismatch, not the first.
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  // GitHub's one non-standard format in the subset: an id that fits a signed 64-bit integer.
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 63 });
  // One root holding the components and the bodies, so the subset's "#/components/schemas/x"
  // refs resolve unchanged. Its two holders are declared as keywords that check nothing
  // (they are containers, reached through refs), which keeps strict mode on for the rest.
  ajv.addKeyword("components").addKeyword("bodies");
  ajv.addSchema({ $id: ROOT, components: SUBSET.components, bodies } as object);
  return ajv;
}

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function compiled(pointer: string): ValidateFunction {
  let v = validators.get(pointer);
  if (!v) {
    ajv ??= createAjv();
    v = ajv.compile({ $ref: `${ROOT}#${pointer}` });
    validators.set(pointer, v);
  }
  return v;
}

/** The validator for operation+status; null when GitHub documents that status with no body. */
function validatorFor(operation: string, status: number): ValidateFunction | null {
  const op = SUBSET.operations[operation];
  if (!op) throw new Error(`unknown GitHub operation "${operation}" (the subset has: ${Object.keys(SUBSET.operations).join("; ")})`);
  const i = bodyIndex.get(`${operation} ${status}`);
  if (i === undefined) throw new Error(`${operation}: GitHub documents no ${status} response (only ${Object.keys(op.responses).join(", ")})`);
  return i === null ? null : compiled(`/bodies/${i}`);
}

function valueAt(body: unknown, pointer: string): unknown {
  let cur = body;
  for (const part of pointer.split("/").slice(1)) {
    cur = (cur as Record<string, unknown> | undefined)?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return cur;
}

function explain(e: ErrorObject, body: unknown): string {
  const where = e.instancePath || "(body)";
  const got = JSON.stringify(valueAt(body, e.instancePath)) ?? "undefined";
  const extra = e.keyword === "enum" ? ` ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}` : "";
  const shown = e.keyword === "required" ? "" : ` (got ${got.length > 80 ? `${got.slice(0, 77)}...` : got})`;
  return `${where} ${e.message}${extra}${shown}`;
}

function isEmptyBody(body: unknown): boolean {
  return body === undefined || body === null || body === "" || (typeof body === "object" && Object.keys(body).length === 0);
}

/**
 * Why `body` is not what GitHub documents for `operation` ("GET /repos/{owner}/{repo}/...",
 * GitHub's path template) answering `status`; empty when it is. A status GitHub documents
 * without a body (a 302 to the logs) wants an empty one ({} is what supertest gives for it).
 * Throws on an operation or status the subset does not have, so a typo fails the test.
 */
export function githubSchemaErrors(operation: string, status: number, body: unknown): string[] {
  const validate = validatorFor(operation, status);
  if (validate === null) return isEmptyBody(body) ? [] : [`(body) GitHub documents no body for ${status} (got ${JSON.stringify(body)})`];
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => explain(e, body));
}

/** Fails the test, listing every mismatch, unless `body` has GitHub's shape for operation+status. */
export function expectGitHubShape(operation: string, status: number, body: unknown): void {
  const errors = githubSchemaErrors(operation, status, body);
  // The errors go in the message too: vitest's diff alone shows "[ Array(n) ]" when it truncates.
  const message = `${operation} ${status}: body differs from GitHub's schema:\n  ${errors.join("\n  ")}`;
  expect(errors, message).toEqual([]);
}

/**
 * GitHub answers errors with basic-error ({message, documentation_url, ...}) on every
 * operation, but documents only some statuses per operation; this checks one without that.
 */
export function githubErrorSchemaErrors(body: unknown): string[] {
  const validate = compiled("/components/schemas/basic-error");
  return validate(body) ? [] : (validate.errors ?? []).map((e) => explain(e, body));
}
