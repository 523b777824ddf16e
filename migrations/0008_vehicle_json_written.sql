-- record_json is written by the vehicle projector, which encodes each record anyway (for its
-- VehicleChanged): as a generated column, Postgres spent ~25 µs building it for every row
-- written, more than the row itself (mostly turning the images and options arrays into JSON),
-- and the projector waits on that.
--
-- Every other writer (the link shortener setting short_url, a replay carrying it over, fixtures,
-- the API benchmark's seed) leaves the column out, and these triggers fill it as the generated
-- column did, with the same function: an INSERT without it, an UPDATE that does not set it.
-- The projector's JSON and the function's are held equal by
-- tests/integration/test_projector.py::test_record_json_is_what_postgres_would_write.
ALTER TABLE vehicles ALTER COLUMN record_json DROP EXPRESSION;

CREATE FUNCTION vehicles_fill_record_json() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.record_json := vehicle_record_json(
        NEW.vin, NEW.stock_number, NEW.year, NEW.make, NEW.model, NEW.trim, NEW.body_style,
        NEW.drivetrain, NEW.transmission, NEW.engine, NEW.fuel_type, NEW.exterior_color,
        NEW.interior_color, NEW.condition, NEW.mileage, NEW.price, NEW.msrp, NEW.currency,
        NEW.images, NEW.options, NEW.description, NEW.dealer_url, NEW.date_in_stock,
        NEW.vehicle_id, NEW.dealer_id, NEW.status, NEW.sources, NEW.first_seen_at,
        NEW.updated_at, NEW.sold_at, NEW.short_url, NEW.warnings);
    RETURN NEW;
END
$$;

CREATE TRIGGER vehicles_record_json_on_insert BEFORE INSERT ON vehicles
    FOR EACH ROW WHEN (NEW.record_json IS NULL) EXECUTE FUNCTION vehicles_fill_record_json();

-- NULL too: the projector sets it to NULL when short_url changed under it (od/projections/vehicles.py).
CREATE TRIGGER vehicles_record_json_on_update BEFORE UPDATE ON vehicles
    FOR EACH ROW WHEN (NEW.record_json IS NULL OR NEW.record_json IS NOT DISTINCT FROM OLD.record_json)
    EXECUTE FUNCTION vehicles_fill_record_json();
