UPDATE records AS r
SET state = v.state, tier = v.tier, rule_version = v.rule_version
FROM json_to_recordset(CAST(:rows AS JSON)) AS v (business_no TEXT, state TEXT, tier TEXT, rule_version TEXT)
WHERE r.business_no = v.business_no AND r.state = 'VALIDATED'
