SELECT r.business_no, r.file_id, r.client_id, r.file_type, r.business_date, r.client_ref, r.amount_cents,
       r.currency, r.tier, r.rule_version, s.submitted_by,
       (SELECT COUNT(*) FROM approvals AS a WHERE a.business_no = r.business_no) AS levels_done
FROM records AS r
LEFT JOIN approval_submissions AS s ON r.file_id = s.file_id
WHERE r.state = 'PENDING_APPROVAL'
  -- Only days not yet closed can hold waiting records (a day closes when every record is
  -- final): the (business_date, client_id) index then reads the open days, not the table.
  AND r.business_date IN (
      SELECT f.business_date FROM files AS f
      WHERE (CAST(:business_date AS TEXT) IS NULL OR f.business_date = :business_date)
        AND f.business_date NOT IN (SELECT d.business_date FROM business_days AS d WHERE d.status = 'CLOSED')
  )
  AND (CAST(:business_date AS TEXT) IS NULL OR r.business_date = :business_date)
  AND (CAST(:client_id AS TEXT) IS NULL OR r.client_id = :client_id)
  AND (CAST(:tier AS TEXT) IS NULL OR r.tier = :tier)
  AND (CAST(:min_cents AS BIGINT) IS NULL OR r.amount_cents >= :min_cents)
  AND (CAST(:max_cents AS BIGINT) IS NULL OR r.amount_cents <= :max_cents)
ORDER BY r.business_date, r.client_id, r.business_no
