UPDATE records
SET state = :state, tier = 'POLICY', rule_version = :rule_version, final_code = 'A_POLICY',
    final_date = business_date
WHERE business_no = :business_no AND state = 'VALIDATED'
