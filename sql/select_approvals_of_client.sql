SELECT a.approval_id, a.business_no, a.level, a.decision, a.decided_by, a.opinion, a.rule_version, a.decided_at
FROM approvals AS a
INNER JOIN records AS r ON a.business_no = r.business_no
INNER JOIN files AS f ON r.file_id = f.file_id
WHERE f.folder = :client_id
ORDER BY a.business_no, a.level
