INSERT INTO archives (
    client_id, business_date, location, manifest_sha256, members, record_class, retain_until, encryption
)
VALUES (
    :client_id, :business_date, :location, :manifest_sha256, :members, :record_class, :retain_until, :encryption
)
ON CONFLICT (client_id, business_date) DO UPDATE
SET location = excluded.location,
    manifest_sha256 = excluded.manifest_sha256,
    members = excluded.members,
    record_class = excluded.record_class,
    retain_until = excluded.retain_until,
    encryption = excluded.encryption,
    deleted_at = NULL
