INSERT INTO record_payloads (file_id, line_no, client_id, business_date, payload) VALUES (?, ?, ?, ?, ?)
