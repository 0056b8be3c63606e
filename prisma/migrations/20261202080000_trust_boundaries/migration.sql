-- AlterTable
ALTER TABLE "workflow_jobs" ADD COLUMN "log_bytes" BIGINT NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "runners" ADD COLUMN "self_registered" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "job_tokens" ADD COLUMN "revoked_at" TIMESTAMPTZ(3);

-- Jobs logged before this migration: their stored bytes count against the limit.
UPDATE "workflow_jobs" j SET "log_bytes" = s.bytes
FROM (SELECT st.job_id, sum(octet_length(c.content))::bigint AS bytes
      FROM "step_log_chunks" c JOIN "workflow_steps" st ON st.id = c.step_id GROUP BY st.job_id) s
WHERE s.job_id = j.id;

-- CreateTable
CREATE TABLE "dashboard_tickets" (
    "id" BIGSERIAL NOT NULL,
    "user_id" BIGINT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dashboard_tickets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "dashboard_sessions" (
    "id" BIGSERIAL NOT NULL,
    "user_id" BIGINT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dashboard_sessions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "dashboard_tickets_token_hash_key" ON "dashboard_tickets"("token_hash");

-- CreateIndex
CREATE UNIQUE INDEX "dashboard_sessions_token_hash_key" ON "dashboard_sessions"("token_hash");

-- CreateIndex
CREATE INDEX "dashboard_sessions_user_id_idx" ON "dashboard_sessions"("user_id");

-- AddForeignKey
ALTER TABLE "dashboard_tickets" ADD CONSTRAINT "dashboard_tickets_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "dashboard_sessions" ADD CONSTRAINT "dashboard_sessions_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
