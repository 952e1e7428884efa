-- The records of a batch of decisions; the business numbers come as one JSON array (one
-- parameter, whatever the batch's size).
SELECT r.business_no, r.file_id, r.file_type, r.business_date, r.state, r.tier, r.rule_version,
       s.submitted_by
FROM records AS r
LEFT JOIN approval_submissions AS s ON r.file_id = s.file_id
WHERE r.business_no IN (SELECT json_array_elements_text(CAST(:business_nos AS json)))
