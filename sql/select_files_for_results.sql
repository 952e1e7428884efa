SELECT file_id, folder, stem
FROM files
WHERE business_date = :business_date AND status IN ('VALIDATED', 'COMPLETED')
ORDER BY file_id
