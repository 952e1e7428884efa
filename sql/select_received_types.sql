SELECT DISTINCT file_type
FROM files
WHERE client_id = :client_id AND business_date = :business_date AND file_type IS NOT NULL
