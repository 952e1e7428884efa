-- The three PAY routing rules of sql/update_pay_records_tier_{auto,l2,l1}.sql in one pass over
-- the day (in that order of precedence): AUTO when small enough and not in a review currency,
-- else L2 from the two-reviewer amount, else L1. Returns the count per tier.
WITH routed AS (
    UPDATE records
    SET
        state = CASE
            WHEN amount_cents <= :pay_auto_max
                AND CAST(:review_currencies AS TEXT) NOT LIKE '%,' || currency || ',%' THEN 'APPROVED'
            ELSE 'PENDING_APPROVAL'
        END,
        tier = CASE
            WHEN amount_cents <= :pay_auto_max
                AND CAST(:review_currencies AS TEXT) NOT LIKE '%,' || currency || ',%' THEN 'AUTO'
            WHEN amount_cents >= :pay_two_from THEN 'L2'
            ELSE 'L1'
        END,
        rule_version = :rule_version
    WHERE business_date = :business_date AND client_id = :client_id AND state = 'VALIDATED'
      AND file_type = 'PAY'
    RETURNING tier
)
SELECT tier, COUNT(*) AS n FROM routed GROUP BY tier
