SELECT DISTINCT r.client_ref
FROM records AS r
WHERE r.client_id = :client_id
  AND r.client_ref IN (SELECT j.value FROM json_each(:refs) AS j)
