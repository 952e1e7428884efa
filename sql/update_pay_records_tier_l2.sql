UPDATE records
SET state = 'PENDING_APPROVAL', tier = 'L2', rule_version = :rule_version
WHERE business_date = :business_date AND client_id = :client_id AND state = 'VALIDATED'
  AND file_type = 'PAY' AND amount_cents >= :pay_two_from
