SELECT l.entry_id, l.business_no, l.leg, l.client_id, l.business_date, l.account, l.amount_cents, l.posted_at
FROM ledger_entries AS l
INNER JOIN records AS r ON l.business_no = r.business_no
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE f.folder = :client_id
ORDER BY l.business_no, l.leg
