-- A fingerprint of a client's approved payments of the day (those settlement would plan): their
-- count and the sums of their amounts (each reduced modulo 2^31 - 1, so that no sum can overflow
-- 64 bits on any database), file ids and line numbers. The same set gives the same figures; a
-- payment added or taken away changes them. Screening stores them once it has left the day's
-- payments approved or held (aml_screenings); settlement's plan computes the same figures for the
-- set it plans (select_settlement_groups_*) and has the client's day screened again when they differ.
SELECT
    COUNT(*) AS payments,
    COALESCE(SUM(r.amount_cents % 2147483647), 0) AS amount_sum,
    COALESCE(SUM(r.file_id), 0) AS file_sum,
    COALESCE(SUM(r.line_no), 0) AS line_sum
FROM records AS r
WHERE r.client_id = :client_id AND r.business_date = :business_date AND r.file_type = 'PAY'
  AND r.state = 'APPROVED'
