INSERT INTO files (
    folder, name, stem, client_id, file_type, business_date, seq, intake_date, sha256, size_bytes,
    raw_key, control_raw_key, status, profile_version
) VALUES (
    :folder, :name, :stem, :client_id, :file_type, :business_date, :seq, :intake_date, :sha256, :size_bytes,
    :raw_key, :control_raw_key, 'RECEIVED', :profile_version
)
ON CONFLICT (folder, name, sha256) WHERE inbox_done = 0 DO NOTHING
