UPDATE aml_cases
SET status = :status, closed_at = CURRENT_TIMESTAMP
WHERE business_no = :business_no AND status = 'OPEN'
