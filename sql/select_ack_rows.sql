SELECT line_no, client_ref, business_no, ack_status, reason_codes
FROM records
WHERE file_id = :file_id
ORDER BY line_no
