UPDATE records AS r
SET state = v.state, final_code = v.final_code, final_date = v.final_date
FROM json_to_recordset(CAST(:rows AS JSON)) AS v (
    business_no TEXT, state TEXT, final_code TEXT, final_date TEXT, expected TEXT
)
WHERE r.business_no = v.business_no AND r.state = v.expected
