-- A client's records and rejects per business date before a date (its norm).
SELECT business_date, COUNT(*) AS n, SUM(CASE WHEN ack_status = 'REJECTED' THEN 1 ELSE 0 END) AS rejected
FROM records
WHERE client_id = :client_id AND business_date < :business_date
GROUP BY business_date
ORDER BY business_date DESC
