INSERT INTO approvals (business_no, level, decision, decided_by, opinion, rule_version)
VALUES (:business_no, :level, :decision, :decided_by, :opinion, :rule_version)
