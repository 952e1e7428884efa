SELECT client_id, business_date
FROM archives
WHERE client_id = :client_id AND business_date <= :cutoff_date AND purged_at IS NULL AND deleted_at IS NULL
ORDER BY business_date
