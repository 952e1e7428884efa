SELECT DISTINCT client_id
FROM files
WHERE business_date = :business_date AND status IN ('INTAKE_OK', 'VALIDATED') AND client_id IS NOT NULL
ORDER BY client_id
