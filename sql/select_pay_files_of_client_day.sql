-- A client's payment files of a business day that own records, with their sequence numbers
-- (the caller orders them by business number prefix). A file without records (refused, a
-- duplicate) owns no business number.
SELECT f.file_id, f.client_id, f.file_type, f.business_date, f.seq
FROM files AS f
WHERE f.client_id = :client_id AND f.business_date = :business_date AND f.file_type = 'PAY'
  AND EXISTS (SELECT 1 FROM records AS r WHERE r.file_id = f.file_id)
