-- The files of an archive package (taken in from the folder on the day) that own records, with
-- the parts of their business numbers. A file without records (refused, a duplicate of an
-- earlier stem) owns no business number, even when its stem is another file's.
SELECT f.file_id, f.client_id, f.file_type, f.business_date, f.seq
FROM files AS f
WHERE f.folder = :client_id AND f.intake_date = :business_date
  AND EXISTS (SELECT 1 FROM records AS r WHERE r.file_id = f.file_id)
ORDER BY f.file_id
