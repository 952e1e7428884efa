SELECT r.business_no, r.file_id, f.seq, r.client_id, r.file_type, r.business_date, r.line_no,
       r.amount_cents, r.payload
FROM records AS r
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.state = 'APPROVED'
ORDER BY f.seq, r.file_id, r.line_no
