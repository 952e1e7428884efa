SELECT folder, name, status, reason_code, message, record_count
FROM files
WHERE intake_date = :business_date
ORDER BY folder, name, file_id
