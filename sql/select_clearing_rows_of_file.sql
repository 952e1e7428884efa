-- The clearing file's rows of one file: its settled payments in line order, which is business
-- number order within a file (the business number ends in the line number, six digits), with
-- their payloads (the payload's fields are parsed in the worker, clearing.json_fields). An index
-- range of records (file_id, line_no) read in its own order: the day is never sorted (sorting a
-- million rows on business numbers that share their first 20 characters took 3-4 s).
SELECT r.business_no, r.client_ref, r.amount_cents, r.currency, r.payload
FROM records AS r
WHERE r.file_id = :file_id AND r.state = 'SETTLED'
ORDER BY r.line_no
