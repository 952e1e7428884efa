SELECT COUNT(*) FROM records
WHERE client_id = :client_id AND business_date = :business_date AND state = 'APPROVED'
