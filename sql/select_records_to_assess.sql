-- A file's records still to assess with their payloads, the lines of one page, in line
-- order. The line range is given for both tables: the records and their payloads are then two
-- index ranges merged in line order (28 ms for 20,000 lines; given for records only, or as a
-- LIMIT, the payloads were read from the file's first line for every page: 144 ms at line 60,000).
SELECT r.business_no, r.file_type, r.amount_cents, p.payload, r.line_no
FROM records AS r
INNER JOIN record_payloads AS p ON p.file_id = r.file_id AND p.line_no = r.line_no
WHERE r.file_id = :file_id AND p.file_id = :file_id AND r.state = 'VALIDATED'
  AND r.line_no > :after AND r.line_no <= :until AND p.line_no > :after AND p.line_no <= :until
ORDER BY r.line_no
