SELECT file_id
FROM files
WHERE client_id = :client_id AND business_date = :business_date AND file_type = :file_type
ORDER BY file_id
