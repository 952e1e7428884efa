SELECT payments, amount_sum, file_sum, line_sum, list_sha256, screened_at
FROM aml_screenings
WHERE client_id = :client_id AND business_date = :business_date
