-- GitHub's unfiltered run list says how many runs (rerun chains) a repository has
-- (docs/github-api.md, "Lists"): counting them per request read every original run, so
-- the repository keeps the count. Statement-level triggers with transition tables keep it
-- in step with every insert and delete of original runs (one UPDATE per statement, not per
-- row, so a bulk insert costs one); the creating transaction already holds the repository's
-- row lock (the run_index allocation), so this adds no new lock.
-- AlterTable
ALTER TABLE "repos" ADD COLUMN "run_chains" BIGINT NOT NULL DEFAULT 0;

UPDATE "repos" p SET "run_chains" = (SELECT count(*) FROM "workflow_runs" r WHERE r."repo_id" = p."id" AND r."original_run_id" IS NULL);

CREATE FUNCTION "workflow_runs_count_chains_added"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE "repos" p SET "run_chains" = p."run_chains" + n.c
  FROM (SELECT "repo_id", count(*) AS c FROM new_runs WHERE "original_run_id" IS NULL GROUP BY "repo_id") n WHERE p."id" = n."repo_id";
  RETURN NULL;
END $fn$;
CREATE TRIGGER "workflow_runs_count_chains_added" AFTER INSERT ON "workflow_runs"
  REFERENCING NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION "workflow_runs_count_chains_added"();

CREATE FUNCTION "workflow_runs_count_chains_removed"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE "repos" p SET "run_chains" = p."run_chains" - o.c
  FROM (SELECT "repo_id", count(*) AS c FROM old_runs WHERE "original_run_id" IS NULL GROUP BY "repo_id") o WHERE p."id" = o."repo_id";
  RETURN NULL;
END $fn$;
CREATE TRIGGER "workflow_runs_count_chains_removed" AFTER DELETE ON "workflow_runs"
  REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION "workflow_runs_count_chains_removed"();
