COPY records (
    business_no, file_id, client_id, file_type, business_date, line_no, client_ref, amount_cents,
    currency, ack_status, reason_codes, state, payload, value_date, payer_id_type, payer_id_no
) FROM STDIN
