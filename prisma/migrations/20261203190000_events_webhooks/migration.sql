-- Events out (docs/events.md): the outbox every transition and applied intent writes in its
-- own transaction, repositories' webhooks, and their deliveries.
-- CreateEnum
CREATE TYPE "event_type" AS ENUM ('workflow_job', 'workflow_run', 'intent');

-- CreateEnum
CREATE TYPE "delivery_state" AS ENUM ('waiting', 'queued', 'retrying', 'delivered', 'failed');

-- CreateTable
CREATE TABLE "events" (
    "seq" BIGSERIAL NOT NULL,
    "id" BIGINT,
    "type" "event_type" NOT NULL,
    "action" TEXT NOT NULL,
    "repo_id" BIGINT NOT NULL,
    "run_id" BIGINT,
    "job_id" BIGINT,
    "snapshot" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload" JSONB,
    "dispatched_at" TIMESTAMPTZ(3),
    "tx" BIGINT NOT NULL DEFAULT (pg_current_xact_id())::text::bigint,

CONSTRAINT "events_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "repo_hooks" (
    "id" BIGSERIAL NOT NULL,
    "repo_id" BIGINT NOT NULL,
    "url" TEXT NOT NULL,
    "secret_encrypted" TEXT,
    "events" TEXT[],
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_by" BIGINT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

CONSTRAINT "repo_hooks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "hook_deliveries" (
    "id" BIGSERIAL NOT NULL,
    "hook_id" BIGINT NOT NULL,
    "guid" UUID NOT NULL,
    "event_id" BIGINT NOT NULL,
    "run_id" BIGINT,
    "event" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "redelivery" BOOLEAN NOT NULL DEFAULT false,
    "state" "delivery_state" NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "request_headers" JSONB,
    "status_code" INTEGER,
    "response_headers" JSONB,
    "response_body" TEXT,
    "error" TEXT,
    "duration_ms" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(3),

CONSTRAINT "hook_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "events_id_key" ON "events"("id");

-- CreateIndex
CREATE INDEX "events_run_id_id_idx" ON "events"("run_id", "id");

-- CreateIndex
CREATE INDEX "events_repo_id_id_idx" ON "events"("repo_id", "id");

-- CreateIndex
CREATE INDEX "repo_hooks_repo_id_idx" ON "repo_hooks"("repo_id");

-- CreateIndex
CREATE INDEX "hook_deliveries_hook_id_id_idx" ON "hook_deliveries"("hook_id", "id");

-- CreateIndex
CREATE INDEX "hook_deliveries_hook_id_run_id_event_id_idx" ON "hook_deliveries"("hook_id", "run_id", "event_id");

-- CreateIndex
CREATE INDEX "hook_deliveries_state_updated_at_idx" ON "hook_deliveries"("state", "updated_at");

-- AddForeignKey
ALTER TABLE "repo_hooks" ADD CONSTRAINT "repo_hooks_repo_id_fkey" FOREIGN KEY ("repo_id") REFERENCES "repos"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "hook_deliveries" ADD CONSTRAINT "hook_deliveries_hook_id_fkey" FOREIGN KEY ("hook_id") REFERENCES "repo_hooks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

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
