SELECT business_no, file_type, amount_cents, payload, line_no
FROM records
WHERE file_id = :file_id AND state = 'VALIDATED' AND line_no > :after
ORDER BY line_no
LIMIT :page
