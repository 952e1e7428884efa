UPDATE records
SET state = 'DISBURSED', final_code = NULL, final_date = :business_date
WHERE file_id IN (
    SELECT file_id FROM files
    WHERE client_id = :client_id AND business_date = :business_date AND file_type = 'LOAN'
      AND status IN ('VALIDATED', 'COMPLETED')
)
  AND client_id = :client_id AND business_date = :business_date AND file_type = 'LOAN'
  AND state = 'APPROVED'
