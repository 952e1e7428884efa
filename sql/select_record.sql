SELECT business_no, file_id, client_id, file_type, business_date, line_no, client_ref, amount_cents,
       currency, ack_status, reason_codes, state, tier, rule_version, final_code, final_date, payload
FROM records
WHERE business_no = :business_no
