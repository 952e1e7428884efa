SELECT COALESCE(MAX(ord), 0)
FROM settlement_plan
WHERE client_id = :client_id AND business_date = :business_date
