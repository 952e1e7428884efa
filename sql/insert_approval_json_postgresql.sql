INSERT INTO approvals (business_no, level, decision, decided_by, opinion, rule_version)
SELECT
    e.value ->> 'business_no', CAST(e.value ->> 'level' AS INTEGER), e.value ->> 'decision',
    e.value ->> 'decided_by', e.value ->> 'opinion', e.value ->> 'rule_version'
FROM json_array_elements(CAST(:rows AS JSON)) WITH ORDINALITY AS e (value, n)
ORDER BY e.n
