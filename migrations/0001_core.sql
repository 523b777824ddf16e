-- Core schema: the projections of the log and the operational tables.
-- Projections are written only by their handlers (od/handlers) and read by the API.

-- Dealers, as the latest DealerChanged made them. A deleted dealer keeps its row
-- (deleted_at set) so its vehicles' history survives; the API hides both.
CREATE TABLE dealers (
    dealer_id         text PRIMARY KEY,
    name              text NOT NULL,
    slug              text,
    domain            text,
    street            text,
    city              text,
    region            text,
    postal_code       text,
    country           text,
    phone             text,
    lat               double precision,
    lng               double precision,
    location_source   text,                -- 'explicit' or 'geocoded:<provider>'
    platforms         text[] NOT NULL DEFAULT '{}',
    price_preference  text NOT NULL DEFAULT 'scrape',
    same_as           text[] NOT NULL DEFAULT '{}',
    config            jsonb NOT NULL DEFAULT '{}',  -- homenet / dealer_com / scrape / schedules / utm
    event_id          text NOT NULL,       -- the DealerChanged that wrote this row
    event_at          timestamptz NOT NULL, -- its occurred_at: last-write-wins across redelivery
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz
);
-- Nearby search: a bounding box on this index, then the exact great-circle distance.
CREATE INDEX dealers_lat_lng ON dealers (lat, lng) WHERE deleted_at IS NULL AND lat IS NOT NULL;

-- What each source has said about each vehicle: one row per (vehicle, source), each field a
-- last-write-wins register {"v": value, "t": occurred_at, "e": event_id}. Merging these
-- registers is commutative and idempotent, so delivery order and duplicates do not matter.
CREATE TABLE vehicle_observations (
    vehicle_id        text NOT NULL,
    source            text NOT NULL,
    dealer_id         text NOT NULL,
    vehicle_key       text NOT NULL,       -- VIN or stock:<n>
    fields            jsonb NOT NULL,
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL, -- latest occurred_at this source showed the vehicle
    PRIMARY KEY (vehicle_id, source)
);
CREATE INDEX vehicle_observations_dealer_source ON vehicle_observations (dealer_id, source);

-- The latest complete pull of each (dealer, source): sold detection compares against it.
CREATE TABLE feed_completions (
    dealer_id         text NOT NULL,
    source            text NOT NULL,
    run_id            text NOT NULL,
    event_id          text NOT NULL,
    occurred_at       timestamptz NOT NULL,
    keys              text[] NOT NULL,
    PRIMARY KEY (dealer_id, source)
);

-- The merged public record, one row per vehicle, as the API serves it.
CREATE TABLE vehicles (
    vehicle_id        text PRIMARY KEY,
    dealer_id         text NOT NULL,
    vin               text,
    stock_number      text,
    year              integer,
    make              text,
    model             text,
    trim              text,
    body_style        text,
    drivetrain        text,
    transmission      text,
    engine            text,
    fuel_type         text,
    exterior_color    text,
    interior_color    text,
    condition         text,
    mileage           integer,
    price             numeric(12, 2),
    msrp              numeric(12, 2),
    currency          text,
    images            text[],
    options           text[],
    description       text,
    dealer_url        text,
    date_in_stock     date,
    warnings          jsonb NOT NULL DEFAULT '[]',
    status            text NOT NULL DEFAULT 'available',  -- available | sold
    sources           text[] NOT NULL DEFAULT '{}',
    first_seen_at     timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    sold_at           timestamptz,
    short_url         text
);
CREATE INDEX vehicles_dealer ON vehicles (dealer_id, status, vehicle_id);
CREATE INDEX vehicles_status_id ON vehicles (status, vehicle_id);
CREATE INDEX vehicles_make_model ON vehicles (lower(make), lower(model), vehicle_id) WHERE status = 'available';
CREATE INDEX vehicles_vin ON vehicles (vin);
CREATE INDEX vehicles_updated ON vehicles (updated_at);

-- Per consumer, the highest stream sequence applied (committed with the batch it covers):
-- projection lag for /metrics and the starting point of a replay.
CREATE TABLE consumer_checkpoints (
    consumer          text PRIMARY KEY,
    stream            text NOT NULL,
    stream_seq        bigint NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Events that could not be applied, with the reason, kept for inspection and replay.
CREATE TABLE dead_letters (
    id                bigserial PRIMARY KEY,
    consumer          text NOT NULL,
    stream            text NOT NULL,
    stream_seq        bigint NOT NULL,
    subject           text NOT NULL,
    reason            text NOT NULL,
    payload           bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    replayed_at       timestamptz,
    UNIQUE (consumer, stream, stream_seq)
);

-- Vehicles a fetcher refused, with the field and value named: counted per run, kept to inspect.
CREATE TABLE rejected_vehicles (
    id                bigserial PRIMARY KEY,
    dealer_id         text NOT NULL,
    source            text NOT NULL,
    run_id            text NOT NULL,
    field             text NOT NULL,
    reason            text NOT NULL,
    raw               jsonb,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_vehicles_run ON rejected_vehicles (run_id);

-- History of scheduled and manual jobs.
CREATE TABLE job_runs (
    run_id            text PRIMARY KEY,
    dealer_id         text NOT NULL,
    job               text NOT NULL,       -- homenet, dealer_com, scrape, url_shortening, ...
    cycle             text NOT NULL,
    status            text NOT NULL,       -- queued, running, succeeded, failed, blocked, skipped
    attempts          integer NOT NULL DEFAULT 0,
    queued_at         timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    ended_at          timestamptz,
    vehicles_found    integer,
    vehicles_published integer,
    vehicles_rejected integer,
    error             text,
    timings           jsonb NOT NULL DEFAULT '{}',
    UNIQUE (dealer_id, job, cycle)
);
CREATE INDEX job_runs_status ON job_runs (status, queued_at);
CREATE INDEX job_runs_dealer ON job_runs (dealer_id, queued_at DESC);
