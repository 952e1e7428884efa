SELECT MAX(line_no) FROM records WHERE file_id = :file_id
