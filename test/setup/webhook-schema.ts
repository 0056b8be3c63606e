import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { expect } from "vitest";

// The oracle for our webhook payloads: GitHub's published webhook schemas
// (@octokit/openapi-webhooks, api.github.com). Unlike the REST description that
// github-schema.ts checks against (OpenAPI 3.0, patched to JSON Schema by a script), this
// one is OpenAPI 3.1, whose schemas are JSON Schema 2020-12 as they stand: nullable is
// already `type: [T, "null"]`, so it is compiled unpatched with ajv's 2020 dialect.

const require = createRequire(import.meta.url);
// Only the api.github.com file: the package's index loads all eight (GHES, GHEC too).
const SPEC = JSON.parse(readFileSync(require.resolve("@octokit/openapi-webhooks/generated/api.github.com.json"), "utf8")) as {
  webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: unknown }> } } }>;
  components: Record<string, unknown>;
};
const ROOT = "github-webhooks";

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = (addFormatsModule as unknown as { default: typeof addFormatsModule.default }).default;

function createAjv(): Ajv2020 {
  // strict stays on (unknown keywords and formats throw at compile time); allowUnionTypes for
  // the spec's `type: [T, "null"]`; allErrors so a failing payload lists every mismatch.
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  // OpenAPI's `example` annotation (JSON Schema has `examples`), and the root's two holders,
  // which are containers reached through refs: keywords that check nothing.
  ajv.addKeyword("example").addKeyword("components").addKeyword("webhooks");
  ajv.addSchema({ $id: ROOT, components: SPEC.components, webhooks: SPEC.webhooks } as object);
  return ajv;
}

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

/** The validator of a webhook's body, keyed as GitHub's spec keys it (`workflow-job-queued`). */
function validatorFor(key: string): ValidateFunction {
  let v = validators.get(key);
  if (!v) {
    if (!SPEC.webhooks[key]?.post.requestBody.content["application/json"]) throw new Error(`no webhook "${key}" with a JSON body in GitHub's spec`);
    ajv ??= createAjv();
    v = ajv.compile({ $ref: `${ROOT}#/webhooks/${key}/post/requestBody/content/application~1json/schema` });
    validators.set(key, v);
  }
  return v;
}

const explain = (e: ErrorObject) => `${e.instancePath || "(body)"} ${e.message}${e.keyword === "enum" ? ` ${JSON.stringify(e.params)}` : ""}`;

/** Why `body` is not GitHub's `key` webhook payload; empty when it is. */
export function webhookSchemaErrors(key: string, body: unknown): string[] {
  const validate = validatorFor(key);
  return validate(body) ? [] : (validate.errors ?? []).map(explain);
}

/** Fails the test, listing every mismatch, unless `body` is GitHub's `key` webhook payload. */
export function expectWebhookShape(key: string, body: unknown): void {
  const errors = webhookSchemaErrors(key, body);
  expect(errors, `${key}: payload differs from GitHub's webhook schema:\n  ${errors.join("\n  ")}`).toEqual([]);
}
