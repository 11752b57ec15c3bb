-- Each user's IANA time zone: automations without a zone of their own run
-- in it, and the agent is told it.
ALTER TABLE users
    ADD COLUMN timezone text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64);

-- How many automations a plan allows.
ALTER TABLE plan_limits
    ADD COLUMN max_automation_jobs integer NOT NULL DEFAULT 3 CHECK (max_automation_jobs >= 0);
UPDATE plan_limits SET max_automation_jobs = CASE plan
    WHEN 'starter' THEN 10
    WHEN 'pro' THEN 25
    WHEN 'premium' THEN 100
    ELSE 3 END;

-- Scheduled tasks, run by the API's scheduler. A due job is claimed with
-- FOR UPDATE SKIP LOCKED and a lease (`claimed_until`): replicas never run
-- one twice, and a crashed replica's claim expires and is taken over.
CREATE TABLE automation_jobs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    schedule          text NOT NULL CHECK (length(schedule) BETWEEN 1 AND 100),
    kind              text NOT NULL CHECK (kind IN ('cron', 'interval', 'once')),
    interval_seconds  integer CHECK (interval_seconds >= 900),
    prompt            text NOT NULL CHECK (length(prompt) BETWEEN 1 AND 8000),
    timezone          text NOT NULL,
    enabled           boolean NOT NULL DEFAULT true,
    -- NULL once nothing is left to run (a one-time job that ran).
    next_run_at       timestamptz,
    last_run_at       timestamptz,
    claimed_by        text,
    claimed_until     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX automation_jobs_due_idx ON automation_jobs (next_run_at) WHERE enabled;
CREATE INDEX automation_jobs_user_id_idx ON automation_jobs (user_id);
CREATE TRIGGER automation_jobs_set_updated_at BEFORE UPDATE ON automation_jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per run (the scheduled time names the run), delivered to the
-- app's poller once.
CREATE TABLE automation_results (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_id      uuid REFERENCES automation_jobs (id) ON DELETE SET NULL,
    job_name    text NOT NULL,
    result      text NOT NULL,
    run_at      timestamptz NOT NULL,
    status      text NOT NULL CHECK (status IN ('ok', 'skipped', 'failed')),
    seen        boolean NOT NULL DEFAULT false,
    delivered   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX automation_results_run_idx ON automation_results (job_id, run_at);
CREATE INDEX automation_results_user_id_idx ON automation_results (user_id, run_at DESC);
