SELECT COUNT(*) FROM files
WHERE client_id = :client_id AND file_type = :file_type AND business_date = :business_date
