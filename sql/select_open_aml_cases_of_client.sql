SELECT business_no
FROM aml_cases
WHERE business_date = :business_date AND client_id = :client_id AND status = 'OPEN'
ORDER BY business_no
