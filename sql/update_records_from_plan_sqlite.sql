UPDATE records
SET state = :state, final_code = :final_code, final_date = :business_date
FROM settlement_plan AS p
WHERE p.client_id = :client_id AND p.business_date = :business_date
  AND p.ord BETWEEN :lo AND :hi AND p.outcome = :outcome
  AND records.business_no = p.business_no AND records.state = 'APPROVED'
  AND records.amount_cents = p.amount_cents
