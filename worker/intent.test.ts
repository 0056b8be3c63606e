import { describe, expect, it } from "vitest";
import { cancelCtes } from "../domain/data/cancel.ts";
import { withRunOfStatement } from "../domain/data/runs.ts";
import { render, sql, type Fragment } from "../infra/sqlf.ts";
import { recordStatement, type IntentRecord } from "./intent.ts";

const numbered = (r: { text: string; values: unknown[] }) => [...r.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("an intent's record renders, alone or after the intent's writes", () => {
  const at = new Date("2026-01-02T03:04:05.000Z");
  const record: IntentRecord = {
    uid: "cancel-job-u1", kind: "cancel_job", targetId: 4, actorUserId: 7, tokenId: 8, idempotencyKey: null, requestId: "req", reason: "why",
    state: "applied", result: '{"ok":true}', at,
  };
  const recordValues = ["cancel-job-u1", "cancel_job", "4", "7", "8", null, "req", "why", "applied", '{"ok":true}', at.toISOString(), at.toISOString()];
  const cancel = cancelCtes({ endNow: [4], flag: [], force: false, actor: { userId: 7n, tokenId: 8n, reason: "why" }, at, settlement: { skip: [], runId: 9, run: null } });
  const run = sql`run AS (SELECT ${"1"}::bigint AS id, ${2}::int AS run_index)`;
  const cases: [string, Fragment, unknown[]][] = [
    ["alone", recordStatement(record, null), recordValues],
    ["after a cancel's writes: the cancel's values, then the record's", recordStatement(record, { ctes: cancel }), [...render(cancel).values, ...recordValues]],
    ["after a run's creation, completing the result", recordStatement({ ...record, tokenId: null }, { ctes: run, completeResult: withRunOfStatement }),
      ["1", 2, ...recordValues.map((v) => (v === "8" ? null : v))]],
  ];
  it.each(cases)("%s", (_, f, values) => {
    const r = render(f);
    expect(r.values).toEqual(values);
    expect(numbered(r)).toEqual(oneToN(values.length));
  });

  it("the record's text, alone and completing a run's result", () => {
    expect(render(cases[0]![1]).text).toMatchInlineSnapshot(`
      "WITH intent AS (
        INSERT INTO lifecycle_intents (uid, kind, target_id, actor_user_id, token_id, idempotency_key, request_id, reason, state, result, created_at, applied_at)
        VALUES ($1::text, $2::text::intent_kind, $3::bigint, $4::bigint,
          $5::bigint, $6::text, $7::text, $8::text,
          $9::text::intent_state, $10::text::jsonb, $11::timestamptz, $12::timestamptz)
        ON CONFLICT (uid) DO NOTHING RETURNING result) SELECT (SELECT count(*) FROM intent)::int AS recorded"
    `);
    expect(render(cases[2]![1]).text).toMatchInlineSnapshot(`
      "WITH run AS (SELECT $1::bigint AS id, $2::int AS run_index), intent AS (
        INSERT INTO lifecycle_intents (uid, kind, target_id, actor_user_id, token_id, idempotency_key, request_id, reason, state, result, created_at, applied_at)
        VALUES ($3::text, $4::text::intent_kind, $5::bigint, $6::bigint,
          $7::bigint, $8::text, $9::text, $10::text,
          $11::text::intent_state, jsonb_set(jsonb_set($12::text::jsonb, '{body,run_id}', to_jsonb((SELECT id FROM run))), '{body,run_index}', to_jsonb((SELECT run_index FROM run))), $13::timestamptz, $14::timestamptz)
        ON CONFLICT (uid) DO NOTHING RETURNING result) SELECT (SELECT count(*) FROM intent)::int AS recorded, (SELECT result::text FROM intent) AS result"
    `);
  });

  it("the cancel's statement is one text for every cancel", () => {
    const other = cancelCtes({ endNow: [], flag: [1, 2], force: true, actor: { userId: null, tokenId: null, reason: null }, at: new Date(), settlement: { skip: [3], runId: 1n, run: { status: "completed", conclusion: "cancelled" } } });
    expect(render(recordStatement({ ...record, uid: "x" }, { ctes: other })).text).toBe(render(cases[1]![1]).text);
  });
});
