SELECT DISTINCT client_id
FROM aml_cases
WHERE business_date = :business_date AND status = 'OPEN'
ORDER BY client_id
