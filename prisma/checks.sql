-- CHECK constraints that schema.prisma cannot express. The initial migration carries
-- them; the drift test adds them to the schema's own SQL before comparing.
ALTER TABLE "workflow_runs" ADD CONSTRAINT "workflow_runs_completed_has_conclusion"
  CHECK (("status" = 'completed') = ("conclusion" IS NOT NULL));
ALTER TABLE "workflow_runs" ADD CONSTRAINT "workflow_runs_run_index_positive" CHECK ("run_index" > 0);
ALTER TABLE "workflow_jobs" ADD CONSTRAINT "workflow_jobs_terminal_has_conclusion"
  CHECK (("status" IN ('completed', 'cancelled', 'skipped')) = ("conclusion" IS NOT NULL));
ALTER TABLE "workflow_jobs" ADD CONSTRAINT "workflow_jobs_running_has_runner"
  CHECK ("status" <> 'running' OR "runner_id" IS NOT NULL);
ALTER TABLE "runners" ADD CONSTRAINT "runners_capacity_positive" CHECK ("capacity" > 0);
