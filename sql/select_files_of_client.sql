SELECT file_id, folder, name, stem, intake_date, business_date, status, reason_code, sha256, raw_key,
    control_raw_key, profile_version
FROM files
WHERE folder = :client_id
ORDER BY intake_date, file_id
