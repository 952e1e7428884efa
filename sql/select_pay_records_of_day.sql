SELECT business_no, client_ref, amount_cents, currency, state, payload
FROM records
WHERE client_id = :client_id AND business_date = :business_date AND file_type = 'PAY'
  AND state = :state
ORDER BY business_no
