-- The scheduler: what job_runs needs beyond 0001, and the shared circuit-breaker state.

-- A run is created `waiting` for its prerequisites, becomes `queued` when its request is
-- published to the work queue, `running` while a worker holds it, and ends succeeded, failed,
-- blocked (a prerequisite did not succeed) or skipped (its host's circuit was open).
ALTER TABLE job_runs
    ADD COLUMN scheduled_for timestamptz,  -- the cycle's tick; NULL for a manual run
    ADD COLUMN host          text,         -- the external host the job talks to (breaker, rate limit)
    ADD COLUMN published_at  timestamptz,  -- its request went onto the work queue
    ADD COLUMN claimed_by    text,         -- the worker running it; only that worker may end it
    ADD COLUMN heartbeat_at  timestamptz,  -- renewed while it runs; stale means its worker died
    ADD CONSTRAINT job_runs_status_known CHECK (
        status IN ('waiting', 'queued', 'running', 'succeeded', 'failed', 'blocked', 'skipped'));

-- A waiting run's prerequisite: the same dealer's latest scheduled run of that job at or before it.
CREATE INDEX job_runs_cycle ON job_runs (dealer_id, job, scheduled_for DESC);
CREATE INDEX job_runs_waiting ON job_runs (dealer_id) WHERE status = 'waiting';
CREATE INDEX job_runs_open ON job_runs (dealer_id, job) WHERE status IN ('queued', 'running');
CREATE INDEX job_runs_ended ON job_runs (ended_at);

-- One row per external host that ever failed (a host that never did is closed without one).
CREATE TABLE circuit_breakers (
    host          text PRIMARY KEY,
    state         text NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failures      integer NOT NULL,
    opened_at     timestamptz,
    trial_until   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
