-- AlterEnum
ALTER TYPE "intent_kind" ADD VALUE 'cancel_run';
ALTER TYPE "intent_kind" ADD VALUE 'force_cancel_run';
ALTER TYPE "intent_kind" ADD VALUE 'rerun_failed_jobs';
ALTER TYPE "intent_kind" ADD VALUE 'rerun_job';
ALTER TYPE "intent_kind" ADD VALUE 'bulk_cancel';

-- AlterTable
ALTER TABLE "workflow_runs" ADD COLUMN "attempt" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN "original_run_id" BIGINT,
ADD COLUMN "concurrency_group" TEXT,
ADD COLUMN "cancel_in_progress" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "workflow_jobs" ADD COLUMN "cancel_requested_token_id" BIGINT,
ADD COLUMN "cancel_reason" TEXT,
ADD COLUMN "force_cancelled" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN "reused" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN "concurrency_group" TEXT,
ADD COLUMN "cancel_in_progress" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "lifecycle_intents" ADD COLUMN "reason" TEXT;

-- CreateIndex
CREATE INDEX "workflow_runs_original_run_id_idx" ON "workflow_runs"("original_run_id");

-- CreateIndex
CREATE INDEX "workflow_runs_repo_id_concurrency_group_id_idx" ON "workflow_runs"("repo_id", "concurrency_group", "id");

-- AddForeignKey
ALTER TABLE "workflow_jobs" ADD CONSTRAINT "workflow_jobs_cancel_requested_by_fkey" FOREIGN KEY ("cancel_requested_by") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
