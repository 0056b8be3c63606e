-- What schema.prisma cannot express: CHECK constraints, triggers and expression indexes.
-- The migrations carry them (the CHECKs in init, the job triggers in job_transitions, the
-- runner name index in runner_names_case_insensitive); the drift test adds this file to
-- the schema's own SQL before comparing.
ALTER TABLE "workflow_runs" ADD CONSTRAINT "workflow_runs_completed_has_conclusion"
  CHECK (("status" = 'completed') = ("conclusion" IS NOT NULL));
ALTER TABLE "workflow_runs" ADD CONSTRAINT "workflow_runs_run_index_positive" CHECK ("run_index" > 0);
ALTER TABLE "workflow_jobs" ADD CONSTRAINT "workflow_jobs_terminal_has_conclusion"
  CHECK (("status" IN ('completed', 'cancelled', 'skipped')) = ("conclusion" IS NOT NULL));
ALTER TABLE "workflow_jobs" ADD CONSTRAINT "workflow_jobs_running_has_runner"
  CHECK ("status" <> 'running' OR "runner_id" IS NOT NULL);
ALTER TABLE "runners" ADD CONSTRAINT "runners_capacity_positive" CHECK ("capacity" > 0);

-- Every status change of a job is recorded, and a terminal job can never change again:
-- the database refuses it whatever code path tries.
CREATE FUNCTION "workflow_jobs_guard_terminal"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF OLD."status" IN ('completed', 'cancelled', 'skipped')
     AND (NEW."status" IS DISTINCT FROM OLD."status" OR NEW."conclusion" IS DISTINCT FROM OLD."conclusion") THEN
    RAISE EXCEPTION 'job % is % and cannot change', OLD."id", OLD."status" USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER "workflow_jobs_guard_terminal" BEFORE UPDATE OF "status", "conclusion" ON "workflow_jobs"
  FOR EACH ROW EXECUTE FUNCTION "workflow_jobs_guard_terminal"();

CREATE FUNCTION "workflow_jobs_record_transition"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO "job_transitions" ("job_id", "to_status", "to_conclusion") VALUES (NEW."id", NEW."status", NEW."conclusion");
  ELSIF NEW."status" IS DISTINCT FROM OLD."status" OR NEW."conclusion" IS DISTINCT FROM OLD."conclusion" THEN
    INSERT INTO "job_transitions" ("job_id", "from_status", "to_status", "from_conclusion", "to_conclusion")
    VALUES (NEW."id", OLD."status", NEW."status", OLD."conclusion", NEW."conclusion");
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "workflow_jobs_record_transition" AFTER INSERT OR UPDATE OF "status", "conclusion" ON "workflow_jobs"
  FOR EACH ROW EXECUTE FUNCTION "workflow_jobs_record_transition"();

-- Runner names are unique regardless of case ("Sim-1" is "sim-1"; docs/security.md).
CREATE UNIQUE INDEX "runners_name_lower_key" ON "runners" (lower("name"));

-- GitHub's run lists read the original runs alone (migration github_run_chains).
CREATE INDEX "workflow_runs_originals_idx" ON "workflow_runs"("repo_id", "created_at", "id") WHERE "original_run_id" IS NULL;

-- A repository keeps how many original runs (rerun chains) it has (migration repo_run_chains).
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
