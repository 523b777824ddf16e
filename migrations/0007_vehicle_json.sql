-- Each vehicle's public record as JSON, kept by Postgres beside the row: listings and feeds
-- send it as it is, instead of decoding ~30 columns a row into Python and encoding them again
-- (most of the API's CPU). The same fields, order and values as msgspec writes a VehicleRecord
-- (RFC 3339 UTC times with Z, prices as decimal strings):
-- tests/integration/test_api_vehicles.py::test_postgres_writes_each_record_as_the_encoder_does
-- holds them equal, so a field added to VehicleRecord fails that test until a migration adds it.
--
-- A generated column may only call IMMUTABLE functions. json_build_object and to_char are
-- STABLE because some types' text output follows settings (DateStyle, lc_time); the ones used
-- here do not (JSON writes dates in ISO 8601 whatever DateStyle says; the to_char patterns are
-- numeric), so this wrapper is declared IMMUTABLE.
CREATE FUNCTION vehicle_record_json(
    _vin text,
    _stock_number text,
    _year integer,
    _make text,
    _model text,
    _trim text,
    _body_style text,
    _drivetrain text,
    _transmission text,
    _engine text,
    _fuel_type text,
    _exterior_color text,
    _interior_color text,
    _condition text,
    _mileage integer,
    _price numeric,
    _msrp numeric,
    _currency text,
    _images text[],
    _options text[],
    _description text,
    _dealer_url text,
    _date_in_stock date,
    _vehicle_id text,
    _dealer_id text,
    _status text,
    _sources text[],
    _first_seen_at timestamptz,
    _updated_at timestamptz,
    _sold_at timestamptz,
    _short_url text,
    _warnings jsonb
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'vin', _vin,
        'stock_number', _stock_number,
        'year', _year,
        'make', _make,
        'model', _model,
        'trim', _trim,
        'body_style', _body_style,
        'drivetrain', _drivetrain,
        'transmission', _transmission,
        'engine', _engine,
        'fuel_type', _fuel_type,
        'exterior_color', _exterior_color,
        'interior_color', _interior_color,
        'condition', _condition,
        'mileage', _mileage,
        'price', _price::text,
        'msrp', _msrp::text,
        'currency', _currency,
        'images', _images,
        'options', _options,
        'description', _description,
        'dealer_url', _dealer_url,
        'date_in_stock', _date_in_stock,
        'vehicle_id', _vehicle_id,
        'dealer_id', _dealer_id,
        'status', _status,
        'sources', _sources,
        'first_seen_at', to_char(_first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
            || CASE WHEN date_part('microseconds', _first_seen_at)::int % 1000000 = 0 THEN 'Z'
                    ELSE to_char(_first_seen_at AT TIME ZONE 'UTC', '.US"Z"') END,
        'updated_at', to_char(_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
            || CASE WHEN date_part('microseconds', _updated_at)::int % 1000000 = 0 THEN 'Z'
                    ELSE to_char(_updated_at AT TIME ZONE 'UTC', '.US"Z"') END,
        'sold_at', to_char(_sold_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
            || CASE WHEN date_part('microseconds', _sold_at)::int % 1000000 = 0 THEN 'Z'
                    ELSE to_char(_sold_at AT TIME ZONE 'UTC', '.US"Z"') END,
        'short_url', _short_url,
        'warnings', _warnings
    )::text
$$;

ALTER TABLE vehicles ADD COLUMN record_json text GENERATED ALWAYS AS (vehicle_record_json(
    vin, stock_number, year, make, model, trim, body_style, drivetrain, transmission, engine,
    fuel_type, exterior_color, interior_color, condition, mileage, price, msrp, currency, images,
    options, description, dealer_url, date_in_stock, vehicle_id, dealer_id, status, sources,
    first_seen_at, updated_at, sold_at, short_url, warnings
)) STORED;
