UPDATE records
SET state = 'APPROVED', tier = 'AUTO', rule_version = :rule_version
WHERE business_date = :business_date AND client_id = :client_id AND state = 'VALIDATED'
  AND ((file_type = 'PAY' AND amount_cents <= :pay_auto_max)
    OR (file_type = 'LOAN' AND amount_cents <= :loan_auto_max))
