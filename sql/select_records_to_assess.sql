SELECT business_no, file_type, amount_cents, payload
FROM records
WHERE business_date = :business_date AND client_id = :client_id AND state = 'VALIDATED'
  AND file_type = :file_type AND business_no > :after
ORDER BY business_no
LIMIT :page
