-- The terms of the fingerprint (select_open_payments_fingerprint.sql) of the records with these
-- business numbers: the payments one AML screening held.
SELECT r.amount_cents, r.file_id, r.line_no
FROM records AS r
WHERE r.business_no IN :business_nos
