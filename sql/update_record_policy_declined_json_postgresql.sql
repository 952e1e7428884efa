UPDATE records AS r
SET state = v.state, tier = 'POLICY', rule_version = v.rule_version, final_code = 'A_POLICY',
    final_date = r.business_date
FROM json_to_recordset(CAST(:rows AS JSON)) AS v (business_no TEXT, state TEXT, rule_version TEXT)
WHERE r.business_no = v.business_no AND r.state = 'VALIDATED'
