-- SQLite: move the chunk's records, still APPROVED: SETTLED, or RETURNED with H_FUNDS.
UPDATE records
SET
    state = CASE WHEN c.settle THEN 'SETTLED' ELSE 'RETURNED' END,
    final_code = CASE WHEN c.settle THEN NULL ELSE 'H_FUNDS' END,
    final_date = :business_date
FROM temp.settlement_chunk AS c
WHERE records.business_no = c.business_no AND records.state = 'APPROVED'
