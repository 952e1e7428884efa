SELECT file_id, original, duplicate_of, status
FROM files
WHERE folder = :folder AND name = :name AND sha256 = :sha256 AND inbox_done = 0
ORDER BY file_id
LIMIT 1
