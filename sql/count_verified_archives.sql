SELECT COUNT(*) FROM archives
WHERE client_id = :client_id AND business_date = :business_date AND verified_at IS NOT NULL
