UPDATE records
SET state = :state, final_code = :final_code, final_date = :business_date
WHERE state = 'APPROVED' AND business_no IN (
    SELECT business_no
    FROM settlement_plan
    WHERE client_id = :client_id AND business_date = :business_date
      AND ord BETWEEN :lo AND :hi AND outcome = :outcome
)
