SELECT COUNT(*) FROM aml_cases
WHERE client_id = :client_id AND business_date = :business_date AND status = 'OPEN'
