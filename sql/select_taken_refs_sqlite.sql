WITH refs (ref) AS MATERIALIZED (SELECT j.value FROM json_each(:refs) AS j)
SELECT r.client_ref
FROM records AS r
WHERE r.client_id = :client_id AND r.ack_status = 'ACCEPTED' AND r.client_ref IN (SELECT ref FROM refs)
UNION
SELECT r.client_ref
FROM records AS r
WHERE r.client_id = :client_id AND r.ack_status = 'REJECTED' AND r.client_ref IN (SELECT ref FROM refs)
