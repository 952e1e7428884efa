-- The records of one file of an archive package (records.parquet is these, file after file), in
-- line order: an index range of records (file_id, line_no) read in its own order, no sort. Line
-- order is business-number order within a file (the business number ends in the line number,
-- six digits), where sorting the whole package by business number sorted ~700 MB of rows on
-- disk (1.2M records: 6-7 s alone, 16-18 s beside the ledger's query, against 3.5-4.4 s).
SELECT r.*
FROM records AS r
WHERE r.file_id = :file_id
ORDER BY r.line_no
