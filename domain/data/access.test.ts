import { describe, expect, it } from "vitest";
import { render, type Fragment } from "../../infra/sqlf.ts";
import { accessSql, tokenByHashSql, tokenTargetSql, TOKEN_TARGET_SQL, type Target } from "./access.ts";

const numbered = (r: { text: string; values: unknown[] }) => [...r.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("the token and access statements render", () => {
  const repoOfJob = "(SELECT r.repo_id FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id WHERE j.id = $2::bigint)";
  const cases: [string, Fragment, unknown[], string][] = [
    ["a token by hash", tokenByHashSql("h"), ["h"], "WHERE t.token_hash = $1::text"],
    ["access to a repository", accessSql({ kind: "repo", id: 5n }, 7n), ["7", "5"], "FROM repos r WHERE r.id = $2::bigint"],
    ["access to a run's repository", accessSql({ kind: "run", id: 5n }, 7n), ["7", "5"], "WHERE r.id = (SELECT repo_id FROM workflow_runs WHERE id = $2::bigint)"],
    ["access to a job's repository", accessSql({ kind: "job", id: 5n }, 7n), ["7", "5"], `WHERE r.id = ${repoOfJob}`],
    ["access to a repository by name", accessSql({ kind: "repoName", owner: "o", name: "n" }, 7n), ["7", ["o", "n"], ["o", "n"]],
      "WHERE nu.login = ($2::text[])[1] AND nr.name = ($3::text[])[2])"],
    ["a token by hash and its job's repository", tokenTargetSql("hash", "h", { kind: "job", id: 5n }), ["h", "5"], `FROM repos r WHERE r.id = ${repoOfJob}`],
    ["a token by id and a repository", tokenTargetSql("id", "9", { kind: "repo", id: 5n }), ["9", "5"], "WHERE t.id = $1::bigint"],
  ];
  it.each(cases)("%s", (_, f, values, part) => {
    const r = render(f);
    expect(r.values).toEqual(values);
    expect(numbered(r)).toEqual(oneToN(values.length));
    expect(r.text).toContain(part);
  });

  it("one text per kind of target, whatever the ids (what trust-io compares statements with)", () => {
    const kinds: Target[] = [{ kind: "repo", id: 1n }, { kind: "run", id: 1n }, { kind: "job", id: 1n }, { kind: "repoName", owner: "a", name: "b" }];
    const texts = kinds.map((t) => render(tokenTargetSql("hash", "x", t)).text);
    expect(new Set(texts).size).toBe(4);
    expect(texts).toEqual(["repo", "run", "job", "repoName"].map((k) => TOKEN_TARGET_SQL(k as never)));
    expect(render(tokenTargetSql("hash", "y", { kind: "job", id: 2n })).text).toBe(texts[2]);
    expect(texts[2]).toMatchInlineSnapshot(`
      "
        SELECT tk.*, rf.repo_id AS target_repo_id, rf.owner_id AS target_owner_id, rf.visibility AS target_visibility,
          rf.is_archived AS target_is_archived, rf.deleted AS target_deleted, rf.role AS target_role
        FROM (
        SELECT t.id::text, t.user_id::text, t.scopes, t.repo_id::text, (extract(epoch FROM t.expires_at) * 1000)::float8 AS expires_ms, (extract(epoch FROM t.revoked_at) * 1000)::float8 AS revoked_ms,
          (extract(epoch FROM t.last_used_at) * 1000)::float8 AS last_used_ms, u.login, (extract(epoch FROM u.suspended_at) * 1000)::float8 AS suspended_ms, u.is_site_admin
        FROM personal_access_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1::text) tk
        LEFT JOIN LATERAL (
          SELECT r.id::text AS repo_id, r.owner_id::text, r.visibility::text, r.is_archived, r.deleted_at IS NOT NULL AS deleted,
            (SELECT c.role::text FROM repo_collaborators c WHERE c.repo_id = r.id AND c.user_id = tk.user_id::bigint) AS role
          FROM repos r WHERE r.id = (SELECT r.repo_id FROM workflow_jobs j JOIN workflow_runs r ON r.id = j.run_id WHERE j.id = $2::bigint)
        ) rf ON true"
    `);
  });
});
