SELECT MIN(p.ord) AS lo, MAX(p.ord) AS hi
FROM settlement_plan AS p
INNER JOIN records AS r ON p.business_no = r.business_no
WHERE p.client_id = :client_id AND p.business_date = :business_date AND r.state = 'APPROVED'
