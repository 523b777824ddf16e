-- Projections: compact per-source registers, and the outbox of VehicleChanged events.

-- Each source's registers of a vehicle (see od/projections/merge.py), stored as msgpack
-- `[t, e, {field: value}, {field: [t, e]}]`: the row's latest stamp once, and a stamp per field
-- only where it differs. As jsonb with a stamp per field they were ~4 KB a row and Postgres
-- spent more time parsing them than the projector spent on everything else. The projection
-- can always be rebuilt from the stream (`od replay vehicles`).
ALTER TABLE vehicle_observations ALTER COLUMN fields TYPE bytea USING convert_to(fields::text, 'UTF8');
ALTER TABLE vehicle_observations RENAME COLUMN fields TO registers;

-- The vehicle projector writes each real change of a public record here in the same
-- transaction as the record itself; a relay publishes the rows to od.vehicle.changed.<dealer>
-- (Nats-Msg-Id = event_id) and deletes what the stream acknowledged. So a change is never
-- lost between the commit and the publish, and a re-publish after a crash carries the same
-- event_id (deduplicated by the stream's duplicate window).
CREATE TABLE vehicle_changes_outbox (
    id                bigserial PRIMARY KEY,
    event_id          text NOT NULL,
    dealer_id         text NOT NULL,
    payload           bytea NOT NULL,       -- the encoded VehicleChanged
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Dead letters are listed newest first and replayed by consumer.
CREATE INDEX dead_letters_pending ON dead_letters (consumer, id) WHERE replayed_at IS NULL;

-- lz4 (where the server has it) compresses the large values several times faster than pglz.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE vehicle_observations ALTER COLUMN registers SET COMPRESSION lz4;
        ALTER TABLE vehicle_changes_outbox ALTER COLUMN payload SET COMPRESSION lz4;
        ALTER TABLE vehicles ALTER COLUMN images SET COMPRESSION lz4,
                             ALTER COLUMN options SET COMPRESSION lz4,
                             ALTER COLUMN description SET COMPRESSION lz4;
    END IF;
END
$$;
