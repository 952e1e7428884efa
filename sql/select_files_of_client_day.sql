SELECT file_id
FROM files
WHERE client_id = :client_id AND business_date = :business_date AND status IN ('INTAKE_OK', 'VALIDATED')
ORDER BY file_type, seq, file_id
