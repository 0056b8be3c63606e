-- CreateTable
CREATE TABLE "job_transitions" (
    "id" BIGSERIAL NOT NULL,
    "job_id" BIGINT NOT NULL,
    "from_status" "job_status",
    "to_status" "job_status" NOT NULL,
    "from_conclusion" "conclusion",
    "to_conclusion" "conclusion",
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_transitions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "job_transitions_job_id_idx" ON "job_transitions"("job_id");

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
