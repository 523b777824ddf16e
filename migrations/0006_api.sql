-- Read API: a listing filtered by make alone walks (lower(make), vehicle_id) in keyset order
-- instead of sorting every vehicle of that make (vehicles_make_model serves make + model).
CREATE INDEX vehicles_make_id ON vehicles (lower(make), vehicle_id) WHERE status = 'available';
