-- The clearing file's rows: a client's settled payments of the day in business number order
-- (the code points of the business number: the same order on SQLite and under any database
-- collation), with their payloads; the payload's fields are parsed in the worker
-- (clearing.json_fields).
SELECT r.business_no, r.client_ref, r.amount_cents, r.currency, r.payload
FROM records AS r
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'SETTLED'
ORDER BY r.business_no COLLATE "C"
