-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "visibility" AS ENUM ('public', 'private');

-- CreateEnum
CREATE TYPE "repo_role" AS ENUM ('read', 'triage', 'write', 'maintain', 'admin');

-- CreateEnum
CREATE TYPE "run_status" AS ENUM ('queued', 'running', 'completed');

-- CreateEnum
CREATE TYPE "job_status" AS ENUM ('queued', 'running', 'completed', 'cancelled', 'skipped');

-- CreateEnum
CREATE TYPE "conclusion" AS ENUM ('success', 'failure', 'neutral', 'cancelled', 'skipped', 'timed_out', 'action_required');

-- CreateEnum
CREATE TYPE "runner_status" AS ENUM ('offline', 'idle', 'active');

-- CreateEnum
CREATE TYPE "intent_kind" AS ENUM ('cancel_job', 'rerun_run');

-- CreateEnum
CREATE TYPE "intent_state" AS ENUM ('applied', 'rejected');

-- CreateTable
CREATE TABLE "users" (
    "id" BIGSERIAL NOT NULL,
    "login" TEXT NOT NULL,
    "suspended_at" TIMESTAMPTZ(3),
    "is_site_admin" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "repos" (
    "id" BIGSERIAL NOT NULL,
    "owner_id" BIGINT NOT NULL,
    "name" TEXT NOT NULL,
    "visibility" "visibility" NOT NULL DEFAULT 'public',
    "is_archived" BOOLEAN NOT NULL DEFAULT false,
    "deleted_at" TIMESTAMPTZ(3),
    "next_run_index" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "repos_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "repo_collaborators" (
    "repo_id" BIGINT NOT NULL,
    "user_id" BIGINT NOT NULL,
    "role" "repo_role" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "repo_collaborators_pkey" PRIMARY KEY ("repo_id","user_id")
);

-- CreateTable
CREATE TABLE "personal_access_tokens" (
    "id" BIGSERIAL NOT NULL,
    "user_id" BIGINT NOT NULL,
    "name" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "token_prefix" TEXT NOT NULL,
    "scopes" TEXT[],
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),
    "repo_id" BIGINT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "personal_access_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "workflow_sources" (
    "id" BIGSERIAL NOT NULL,
    "repo_id" BIGINT NOT NULL,
    "path" TEXT NOT NULL,
    "head_sha" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "workflow_sources_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "workflow_runs" (
    "id" BIGSERIAL NOT NULL,
    "repo_id" BIGINT NOT NULL,
    "run_index" INTEGER NOT NULL,
    "workflow_file" TEXT NOT NULL,
    "workflow_name" TEXT NOT NULL,
    "head_sha" TEXT NOT NULL,
    "head_ref" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "event_payload" JSONB NOT NULL DEFAULT '{}',
    "actor_user_id" BIGINT,
    "parent_run_id" BIGINT,
    "trigger_event_id" TEXT,
    "status" "run_status" NOT NULL DEFAULT 'queued',
    "conclusion" "conclusion",
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "workflow_runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "workflow_jobs" (
    "id" BIGSERIAL NOT NULL,
    "run_id" BIGINT NOT NULL,
    "job_index" INTEGER NOT NULL,
    "job_key" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "runs_on" TEXT NOT NULL DEFAULT '',
    "needs" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "timeout_minutes" INTEGER NOT NULL DEFAULT 360,
    "status" "job_status" NOT NULL DEFAULT 'queued',
    "conclusion" "conclusion",
    "cancel_requested" BOOLEAN NOT NULL DEFAULT false,
    "cancel_requested_at" TIMESTAMPTZ(3),
    "cancel_requested_by" BIGINT,
    "runner_id" BIGINT,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "workflow_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "workflow_steps" (
    "id" BIGSERIAL NOT NULL,
    "job_id" BIGINT NOT NULL,
    "step_index" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "run" TEXT NOT NULL,
    "status" "job_status" NOT NULL DEFAULT 'queued',
    "conclusion" "conclusion",
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "workflow_steps_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "step_log_chunks" (
    "id" BIGSERIAL NOT NULL,
    "step_id" BIGINT NOT NULL,
    "seq" INTEGER NOT NULL,
    "content" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "step_log_chunks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "runners" (
    "id" BIGSERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "labels" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "capacity" INTEGER NOT NULL DEFAULT 1,
    "status" "runner_status" NOT NULL DEFAULT 'offline',
    "host_name" TEXT,
    "version" TEXT,
    "last_heartbeat_at" TIMESTAMPTZ(3),
    "draining_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "runners_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "runner_tokens" (
    "id" BIGSERIAL NOT NULL,
    "runner_id" BIGINT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "runner_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_tokens" (
    "id" BIGSERIAL NOT NULL,
    "job_id" BIGINT NOT NULL,
    "runner_id" BIGINT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "lifecycle_intents" (
    "id" BIGSERIAL NOT NULL,
    "uid" TEXT NOT NULL,
    "kind" "intent_kind" NOT NULL,
    "target_id" BIGINT NOT NULL,
    "actor_user_id" BIGINT NOT NULL,
    "token_id" BIGINT,
    "idempotency_key" TEXT,
    "request_id" TEXT,
    "state" "intent_state" NOT NULL,
    "result" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "applied_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "lifecycle_intents_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_login_key" ON "users"("login");

-- CreateIndex
CREATE UNIQUE INDEX "repos_owner_id_name_key" ON "repos"("owner_id", "name");

-- CreateIndex
CREATE INDEX "repo_collaborators_user_id_idx" ON "repo_collaborators"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "personal_access_tokens_token_hash_key" ON "personal_access_tokens"("token_hash");

-- CreateIndex
CREATE INDEX "personal_access_tokens_user_id_idx" ON "personal_access_tokens"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "workflow_sources_repo_id_path_head_sha_key" ON "workflow_sources"("repo_id", "path", "head_sha");

-- CreateIndex
CREATE UNIQUE INDEX "workflow_runs_trigger_event_id_key" ON "workflow_runs"("trigger_event_id");

-- CreateIndex
CREATE INDEX "workflow_runs_parent_run_id_idx" ON "workflow_runs"("parent_run_id");

-- CreateIndex
CREATE INDEX "workflow_runs_status_idx" ON "workflow_runs"("status");

-- CreateIndex
CREATE UNIQUE INDEX "workflow_runs_repo_id_run_index_key" ON "workflow_runs"("repo_id", "run_index");

-- CreateIndex
CREATE INDEX "workflow_jobs_status_id_idx" ON "workflow_jobs"("status", "id");

-- CreateIndex
CREATE INDEX "workflow_jobs_runner_id_status_idx" ON "workflow_jobs"("runner_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "workflow_jobs_run_id_job_key_key" ON "workflow_jobs"("run_id", "job_key");

-- CreateIndex
CREATE UNIQUE INDEX "workflow_jobs_run_id_job_index_key" ON "workflow_jobs"("run_id", "job_index");

-- CreateIndex
CREATE UNIQUE INDEX "workflow_steps_job_id_step_index_key" ON "workflow_steps"("job_id", "step_index");

-- CreateIndex
CREATE UNIQUE INDEX "step_log_chunks_step_id_seq_key" ON "step_log_chunks"("step_id", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "runners_name_key" ON "runners"("name");

-- CreateIndex
CREATE UNIQUE INDEX "runner_tokens_token_hash_key" ON "runner_tokens"("token_hash");

-- CreateIndex
CREATE INDEX "runner_tokens_runner_id_idx" ON "runner_tokens"("runner_id");

-- CreateIndex
CREATE UNIQUE INDEX "job_tokens_token_hash_key" ON "job_tokens"("token_hash");

-- CreateIndex
CREATE INDEX "job_tokens_job_id_idx" ON "job_tokens"("job_id");

-- CreateIndex
CREATE UNIQUE INDEX "lifecycle_intents_uid_key" ON "lifecycle_intents"("uid");

-- CreateIndex
CREATE INDEX "lifecycle_intents_kind_target_id_idx" ON "lifecycle_intents"("kind", "target_id");

-- CreateIndex
CREATE UNIQUE INDEX "lifecycle_intents_actor_user_id_kind_idempotency_key_key" ON "lifecycle_intents"("actor_user_id", "kind", "idempotency_key");

-- AddForeignKey
ALTER TABLE "repos" ADD CONSTRAINT "repos_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "repo_collaborators" ADD CONSTRAINT "repo_collaborators_repo_id_fkey" FOREIGN KEY ("repo_id") REFERENCES "repos"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "repo_collaborators" ADD CONSTRAINT "repo_collaborators_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "personal_access_tokens" ADD CONSTRAINT "personal_access_tokens_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "personal_access_tokens" ADD CONSTRAINT "personal_access_tokens_repo_id_fkey" FOREIGN KEY ("repo_id") REFERENCES "repos"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_sources" ADD CONSTRAINT "workflow_sources_repo_id_fkey" FOREIGN KEY ("repo_id") REFERENCES "repos"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_runs" ADD CONSTRAINT "workflow_runs_repo_id_fkey" FOREIGN KEY ("repo_id") REFERENCES "repos"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_runs" ADD CONSTRAINT "workflow_runs_actor_user_id_fkey" FOREIGN KEY ("actor_user_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_runs" ADD CONSTRAINT "workflow_runs_parent_run_id_fkey" FOREIGN KEY ("parent_run_id") REFERENCES "workflow_runs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_jobs" ADD CONSTRAINT "workflow_jobs_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "workflow_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_jobs" ADD CONSTRAINT "workflow_jobs_runner_id_fkey" FOREIGN KEY ("runner_id") REFERENCES "runners"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "workflow_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "step_log_chunks" ADD CONSTRAINT "step_log_chunks_step_id_fkey" FOREIGN KEY ("step_id") REFERENCES "workflow_steps"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "runner_tokens" ADD CONSTRAINT "runner_tokens_runner_id_fkey" FOREIGN KEY ("runner_id") REFERENCES "runners"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job_tokens" ADD CONSTRAINT "job_tokens_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "workflow_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job_tokens" ADD CONSTRAINT "job_tokens_runner_id_fkey" FOREIGN KEY ("runner_id") REFERENCES "runners"("id") ON DELETE CASCADE ON UPDATE CASCADE;

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
