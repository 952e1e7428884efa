UPDATE records AS r
SET state = v.state
FROM json_to_recordset(CAST(:rows AS JSON)) AS v (business_no TEXT, state TEXT, expected TEXT)
WHERE r.business_no = v.business_no AND r.state = v.expected
