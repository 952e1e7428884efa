SELECT DISTINCT client_id
FROM records
WHERE business_date = :business_date AND file_type = :file_type
ORDER BY client_id
