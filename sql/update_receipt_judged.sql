UPDATE files
SET status = :status, reason_code = :reason_code, message = :message, encoding = :encoding,
    record_count = :record_count, amount_total_cents = :amount_total_cents, updated_at = CURRENT_TIMESTAMP
WHERE file_id = :file_id AND status = 'RECEIVED'
