SELECT DISTINCT f.intake_date
FROM files AS f
LEFT JOIN archives AS a ON f.folder = a.client_id AND f.intake_date = a.business_date AND a.deleted_at IS NULL
WHERE f.folder = :client_id AND a.client_id IS NULL
ORDER BY f.intake_date
