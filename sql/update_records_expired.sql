UPDATE records
SET state = :state, final_code = 'A_EXPIRED', final_date = business_date
WHERE business_date = :business_date AND client_id = :client_id AND file_type = :file_type
  AND state = 'PENDING_APPROVAL'
