SELECT encoding
FROM files
WHERE file_id = :file_id
