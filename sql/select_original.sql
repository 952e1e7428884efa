SELECT file_id
FROM files
WHERE folder = :folder AND original = 1 AND file_id <> :file_id AND (stem = :stem OR sha256 = :sha256)
ORDER BY file_id
LIMIT 1
