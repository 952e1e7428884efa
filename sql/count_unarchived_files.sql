SELECT COUNT(*)
FROM files AS f
LEFT JOIN archives AS a ON f.folder = a.client_id AND f.intake_date = a.business_date
WHERE f.intake_date = :business_date
  AND (f.status NOT IN ('REJECTED', 'COMPLETED') OR a.client_id IS NULL)
