SELECT f.file_id, f.stem, f.folder, f.status, f.record_count, f.profile_version
FROM files AS f
WHERE f.file_id = :file_id
