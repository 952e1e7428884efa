SELECT level, decision, decided_by, opinion, rule_version, decided_at
FROM approvals
WHERE business_no = :business_no
ORDER BY level
