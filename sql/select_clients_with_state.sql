SELECT DISTINCT r.client_id
FROM records AS r
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE r.business_date = :business_date AND r.state = :state AND f.status IN ('VALIDATED', 'COMPLETED')
ORDER BY r.client_id
