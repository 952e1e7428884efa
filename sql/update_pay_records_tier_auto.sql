UPDATE records
SET state = 'APPROVED', tier = 'AUTO', rule_version = :rule_version
WHERE business_date = :business_date AND client_id = :client_id AND state = 'VALIDATED'
  AND file_type = 'PAY' AND amount_cents <= :pay_auto_max
  AND CAST(:review_currencies AS TEXT) NOT LIKE '%,' || currency || ',%'
