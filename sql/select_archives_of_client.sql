SELECT client_id, business_date, location, manifest_sha256, members, record_class, retain_until, encryption,
    verified_at, purged_at, deleted_at
FROM archives
WHERE client_id = :client_id
ORDER BY business_date
