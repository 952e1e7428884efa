-- PostgreSQL: disburse the client's approved loans of the day in one statement: the records
-- move APPROVED -> DISBURSED and the rows the update returns become their postings (debit the
-- client's LOANS account, credit its DISBURSEMENT account), so a posting is made exactly for
-- each loan this statement disbursed, as settlement's chunks do for payments. A posting already
-- there for an APPROVED loan is a unique violation: the statement, and the client's day, roll
-- back (nothing is skipped silently).
WITH done AS (
    UPDATE records AS r
    SET state = 'DISBURSED', final_code = NULL, final_date = :business_date
    WHERE r.file_id IN (
        SELECT f.file_id FROM files AS f
        WHERE f.client_id = :client_id AND f.business_date = :business_date AND f.file_type = 'LOAN'
          AND f.status IN ('VALIDATED', 'COMPLETED')
    )
      AND r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'LOAN'
      AND r.state = 'APPROVED'
    RETURNING r.business_no, r.client_id, r.business_date, r.amount_cents
),

posted AS (
    INSERT INTO ledger_transfers (
        business_no, client_id, business_date, debit_account, credit_account, amount_cents
    )
    SELECT
        d.business_no, d.client_id, d.business_date, d.client_id || ':' || 'LOANS',
        d.client_id || ':' || 'DISBURSEMENT', d.amount_cents
    FROM done AS d
    ORDER BY d.business_no
    RETURNING 1
)

SELECT (SELECT COUNT(*) FROM done) AS disbursed, (SELECT COUNT(*) FROM posted) AS postings
