SELECT COUNT(*) AS n, COALESCE(SUM(amount_cents), 0) AS cents
FROM settlement_plan
WHERE client_id = :client_id AND business_date = :business_date AND outcome = 'FUNDS'
