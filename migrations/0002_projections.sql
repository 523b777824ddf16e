-- Projections: the outbox of VehicleChanged events.
--
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
