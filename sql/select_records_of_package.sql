-- The archive's records member: every column of records and its payload, in the order records
-- had them before the payload moved to record_payloads (V016), so the member's layout is unchanged.
SELECT
    r.business_no, r.file_id, r.client_id, r.file_type, r.business_date, r.line_no, r.client_ref,
    r.amount_cents, r.currency, r.ack_status, r.reason_codes, r.state, r.tier, r.rule_version,
    r.final_code, r.final_date, r.payload, r.value_date
FROM records_with_payload AS r
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE f.folder = :client_id AND f.intake_date = :business_date
ORDER BY r.business_no
