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

-- The outbox (migration events_webhooks, docs/events.md): every job and run transition and
-- every applied intent writes an event in its own transaction. One statement may change a
-- run and several of its jobs in any order, so `tx` names the writing transaction and the
-- dispatcher orders one transaction's events by what they say (a run is requested before
-- its jobs queue, a job fails before the jobs it skips, a run completes last).
CREATE SEQUENCE "events_dispatch_seq" AS BIGINT;
CREATE INDEX "events_undispatched_idx" ON "events"("seq") WHERE "id" IS NULL;
CREATE INDEX "events_undispatched_tx_idx" ON "events"("tx") WHERE "id" IS NULL;

CREATE FUNCTION "workflow_runs_event_requested"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO "events" ("type", "action", "repo_id", "run_id", "snapshot")
  SELECT 'workflow_run', 'requested', n."repo_id", n."id", to_jsonb(n) - 'event_payload' FROM new_runs n ORDER BY n."id";
  RETURN NULL;
END $fn$;
CREATE TRIGGER "workflow_runs_event_requested" AFTER INSERT ON "workflow_runs"
  REFERENCING NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION "workflow_runs_event_requested"();

CREATE FUNCTION "workflow_runs_event_changed"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO "events" ("type", "action", "repo_id", "run_id", "snapshot")
  VALUES ('workflow_run', CASE NEW."status" WHEN 'running' THEN 'in_progress' ELSE 'completed' END, NEW."repo_id", NEW."id", to_jsonb(NEW) - 'event_payload');
  RETURN NULL;
END $fn$;
CREATE TRIGGER "workflow_runs_event_changed" AFTER UPDATE OF "status" ON "workflow_runs"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status" AND NEW."status" <> 'queued') EXECUTE FUNCTION "workflow_runs_event_changed"();

CREATE FUNCTION "workflow_jobs_event_created"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO "events" ("type", "action", "repo_id", "run_id", "job_id", "snapshot")
  SELECT 'workflow_job', CASE n."status" WHEN 'queued' THEN 'queued' WHEN 'running' THEN 'in_progress' ELSE 'completed' END,
    r."repo_id", n."run_id", n."id", to_jsonb(n)
  FROM new_jobs n JOIN "workflow_runs" r ON r."id" = n."run_id" ORDER BY n."id";
  RETURN NULL;
END $fn$;
CREATE TRIGGER "workflow_jobs_event_created" AFTER INSERT ON "workflow_jobs"
  REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION "workflow_jobs_event_created"();

CREATE FUNCTION "workflow_jobs_event_changed"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO "events" ("type", "action", "repo_id", "run_id", "job_id", "snapshot")
  SELECT 'workflow_job', CASE NEW."status" WHEN 'running' THEN 'in_progress' ELSE 'completed' END,
    r."repo_id", NEW."run_id", NEW."id", to_jsonb(NEW)
  FROM "workflow_runs" r WHERE r."id" = NEW."run_id";
  RETURN NULL;
END $fn$;
CREATE TRIGGER "workflow_jobs_event_changed" AFTER UPDATE OF "status" ON "workflow_jobs"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status" AND NEW."status" <> 'queued') EXECUTE FUNCTION "workflow_jobs_event_changed"();

CREATE FUNCTION "lifecycle_intents_event"() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  repo BIGINT;
BEGIN
  repo := CASE
    WHEN NEW."kind" IN ('cancel_job', 'rerun_job') THEN
      (SELECT r."repo_id" FROM "workflow_jobs" j JOIN "workflow_runs" r ON r."id" = j."run_id" WHERE j."id" = NEW."target_id")
    WHEN NEW."kind" = 'bulk_cancel' THEN NEW."target_id"
    ELSE (SELECT r."repo_id" FROM "workflow_runs" r WHERE r."id" = NEW."target_id") END;
  IF repo IS NOT NULL THEN
    INSERT INTO "events" ("type", "action", "repo_id", "snapshot") VALUES ('intent', NEW."kind"::text, repo, to_jsonb(NEW) - 'result');
  END IF;
  RETURN NULL;
END $fn$;
CREATE TRIGGER "lifecycle_intents_event" AFTER INSERT ON "lifecycle_intents"
  FOR EACH ROW WHEN (NEW."state" = 'applied') EXECUTE FUNCTION "lifecycle_intents_event"();

-- The claim's candidates: queued jobs by label set (migration claim_labels_index).
CREATE INDEX "workflow_jobs_queued_labels_idx" ON "workflow_jobs" USING gin (string_to_array("runs_on", ',')) WITH (fastupdate = off) WHERE "status" = 'queued' AND NOT "cancel_requested";
