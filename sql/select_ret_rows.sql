SELECT client_ref, business_no, state, final_code, amount_cents, final_date
FROM records
WHERE file_id = :file_id AND ack_status = 'ACCEPTED'
ORDER BY line_no
