SELECT file_id, folder, name, stem, client_id, file_type, business_date, seq, sha256, raw_key,
       original, duplicate_of, status, reason_code, record_count, profile_version
FROM files
WHERE file_id = :file_id
