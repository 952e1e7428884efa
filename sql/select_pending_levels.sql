-- The day's records waiting for a person, with the levels each has had: what the demo reviewers
-- work through (no maker, amounts or client refs: each decision re-reads its record). No ORDER
-- BY: the caller orders these narrow rows its own way (most levels to go first).
SELECT r.business_no, r.tier,
       (SELECT COUNT(*) FROM approvals AS a WHERE a.business_no = r.business_no) AS levels_done
FROM records AS r
WHERE r.business_date = :business_date
  AND r.state = 'PENDING_APPROVAL'
