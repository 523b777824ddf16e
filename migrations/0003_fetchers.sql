-- Fetchers: where each incremental source left off.
-- HomeNet answers "what changed since UpdatedSinceDate"; the cursor is the start time of the
-- dealer's last successful pull (full or incremental), written after its observations were
-- published. No cursor means the next pull is a full one.
CREATE TABLE fetch_cursors (
    dealer_id         text NOT NULL,
    source            text NOT NULL,
    updated_since     timestamptz NOT NULL,
    run_id            text NOT NULL,       -- the pull that set it
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dealer_id, source)
);
