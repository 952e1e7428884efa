-- Records of each client and business date in a range with what KPIs need: acknowledgement,
-- reason codes, tier, human decisions (count, last), when their file came, first ledger posting.
SELECT
    r.client_id,
    r.business_date,
    r.ack_status,
    r.reason_codes,
    r.state,
    r.tier,
    f.received_at AS file_received_at,
    (SELECT COUNT(*) FROM approvals AS a WHERE a.business_no = r.business_no) AS decisions,
    (SELECT MAX(a.decided_at) FROM approvals AS a WHERE a.business_no = r.business_no) AS last_decided_at,
    (SELECT MIN(l.posted_at) FROM ledger_entries AS l WHERE l.business_no = r.business_no) AS posted_at
FROM records AS r
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE r.business_date BETWEEN :start AND :end
ORDER BY r.client_id, r.business_date, r.business_no
