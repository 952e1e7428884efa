SELECT file_id, folder, name, stem, sha256, size_bytes, raw_key, control_raw_key, status, reason_code, message
FROM files
WHERE folder = :folder AND inbox_done = 0
ORDER BY file_id
