INSERT INTO archives (client_id, business_date, location, manifest_sha256, members)
VALUES (:client_id, :business_date, :location, :manifest_sha256, :members)
ON CONFLICT (client_id, business_date) DO UPDATE
SET location = excluded.location, manifest_sha256 = excluded.manifest_sha256, members = excluded.members
