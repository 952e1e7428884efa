SELECT client_id, business_date, location, manifest_sha256, retain_until
FROM archives
WHERE retain_until < :today AND deleted_at IS NULL
ORDER BY client_id, business_date
