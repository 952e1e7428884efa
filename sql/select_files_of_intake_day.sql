SELECT file_id, folder, name, stem, status, reason_code, sha256, raw_key, control_raw_key, profile_version
FROM files
WHERE folder = :folder AND intake_date = :business_date
ORDER BY file_id
