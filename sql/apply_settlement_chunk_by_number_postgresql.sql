-- Apply plan rows lo..hi by joining them to records on the business number (the fallback of
-- apply_settlement_chunk_postgresql for records no longer at the row the plan read them from,
-- and for plans made before V012, which have no record_tid): only records still APPROVED with
-- the planned amount are moved, in page order.
WITH done AS (
    UPDATE records AS r
    SET
        state = CASE WHEN s.outcome = 'SETTLE' THEN 'SETTLED' ELSE 'RETURNED' END,
        final_code = CASE WHEN s.outcome = 'SETTLE' THEN NULL ELSE 'H_FUNDS' END,
        final_date = :business_date
    FROM (
        SELECT q.ctid AS rid, q.business_no, p.outcome
        FROM settlement_plan AS p
        INNER JOIN records AS q ON q.business_no = p.business_no
        WHERE p.client_id = :client_id AND p.business_date = :business_date AND p.ord BETWEEN :lo AND :hi
          AND q.state = 'APPROVED' AND q.amount_cents = p.amount_cents
        ORDER BY q.ctid
    ) AS s
    WHERE r.ctid = s.rid AND r.business_no = s.business_no AND r.state = 'APPROVED'
    RETURNING r.business_no, r.client_id, r.business_date, r.amount_cents, s.outcome
),

posted AS (
    INSERT INTO ledger_transfers (
        business_no, client_id, business_date, debit_account, credit_account, amount_cents
    )
    SELECT
        d.business_no, d.client_id, d.business_date, d.client_id || ':' || 'PREFUND', d.client_id || ':' || 'CLEARING',
        d.amount_cents
    FROM done AS d
    WHERE d.outcome = 'SETTLE'
    RETURNING 1
)

SELECT
    (SELECT COUNT(*) FROM done WHERE outcome = 'SETTLE') AS settled,
    (SELECT COUNT(*) FROM done WHERE outcome = 'FUNDS') AS returned,
    (SELECT COUNT(*) FROM posted) AS postings
