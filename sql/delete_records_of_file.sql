DELETE FROM records WHERE file_id = :file_id
