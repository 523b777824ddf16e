-- Enrichment: short links per vehicle page, the geocoder's cache, and the workers' counters.
-- Written only by od/enrichment; vehicles.short_url and dealers.lat/lng (when geocoded) too.

-- One row per (vehicle, destination): a changed dealer_url (or UTM config) is a new row, the
-- old one is kept as history; vehicles.short_url holds the current one.
CREATE TABLE vehicle_links (
    vehicle_id        text NOT NULL,
    target_url        text NOT NULL,       -- the short link's destination: dealer_url + the dealer's UTM
    target_key        text GENERATED ALWAYS AS (md5(target_url)) STORED, -- URLs can outgrow a btree key
    dealer_url        text NOT NULL,       -- the page that was checked (without our UTM)
    short_url         text,
    provider          text NOT NULL,       -- 'rebrandly'
    provider_id       text,                -- the provider's id of the link
    status            text NOT NULL,       -- pending | linked | page_missing | failed
    attempts          integer NOT NULL DEFAULT 0,
    last_attempt_at   timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vehicle_id, target_key)
);
-- Reuse: any vehicle's link to the same destination.
CREATE INDEX vehicle_links_target ON vehicle_links (target_key) WHERE status = 'linked';

-- Geocoder answers keyed by the normalized address (od.enrichment.address.address_key).
CREATE TABLE geocode_cache (
    address_key       text PRIMARY KEY,
    query             text NOT NULL,       -- what was sent to the geocoder
    lat               double precision NOT NULL,
    lng               double precision NOT NULL,
    display_name      text,
    source            text NOT NULL,       -- the geocoder: 'nominatim'
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Per worker, monotonic counts (done, retried, dead_lettered, and outcomes such as
-- links_created): shared by every worker process, read by the API's /metrics.
CREATE TABLE enrichment_counters (
    worker            text NOT NULL,
    name              text NOT NULL,
    value             bigint NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (worker, name)
);
