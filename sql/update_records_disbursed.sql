UPDATE records
SET state = 'DISBURSED', final_code = NULL, final_date = :business_date
WHERE client_id = :client_id AND business_date = :business_date AND file_type = 'LOAN'
  AND state = 'APPROVED'
  AND file_id IN (SELECT file_id FROM files WHERE status IN ('VALIDATED', 'COMPLETED'))
