UPDATE records
SET state = :state, tier = :tier, rule_version = :rule_version
WHERE business_no = :business_no AND state = 'VALIDATED'
