-- AlterTable: an expansion of `strategy.matrix` knows its matrix (the job's key in the
-- file), how many of the matrix may run at once, and whether a failure cancels the rest
-- (docs/workflows.md).
ALTER TABLE "workflow_jobs" ADD COLUMN "matrix_key" TEXT,
ADD COLUMN "max_parallel" INTEGER,
ADD COLUMN "fail_fast" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex: the claim query counts a matrix's running jobs.
CREATE INDEX "workflow_jobs_run_id_matrix_key_status_idx" ON "workflow_jobs"("run_id", "matrix_key", "status");
