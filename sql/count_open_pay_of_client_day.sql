SELECT COUNT(*)
FROM records
WHERE client_id = :client_id AND business_date = :business_date AND file_type = 'PAY'
  AND ack_status = 'ACCEPTED' AND state NOT IN ('SETTLED', 'RETURNED')
