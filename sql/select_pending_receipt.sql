SELECT file_id, folder, name, stem, sha256, size_bytes, raw_key, control_raw_key, status, reason_code, message
FROM files
WHERE folder = :folder AND name = :name AND sha256 = :sha256 AND inbox_done = 0
