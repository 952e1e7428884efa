SELECT business_no, client_id, file_type, business_date, client_ref, amount_cents, currency, tier, rule_version
FROM records
WHERE state = 'PENDING_APPROVAL'
  AND (CAST(:business_date AS TEXT) IS NULL OR business_date = :business_date)
  AND (CAST(:client_id AS TEXT) IS NULL OR client_id = :client_id)
ORDER BY business_date, client_id, business_no
