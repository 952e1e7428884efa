-- The files settlement orders a client's payments by (the files of its groups): their sequence,
-- and their status (only the payments of files still VALIDATED or COMPLETED are settled).
SELECT f.file_id, f.seq, f.status
FROM files AS f
WHERE f.file_id IN :file_ids
