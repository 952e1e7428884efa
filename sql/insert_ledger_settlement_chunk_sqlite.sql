-- SQLite: the postings of the chunk's payments that settle, one each: debit the client's PREFUND
-- account, credit its CLEARING account. The chunk's records are moved right after, in the same
-- transaction (update_records_settlement_chunk_sqlite).
INSERT INTO ledger_transfers (business_no, client_id, business_date, debit_account, credit_account, amount_cents)
SELECT
    c.business_no, c.client_id, c.business_date, c.client_id || ':' || 'PREFUND', c.client_id || ':' || 'CLEARING',
    c.amount_cents
FROM temp.settlement_chunk AS c
WHERE c.settle
ORDER BY c.business_no
