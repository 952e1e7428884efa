SELECT decision, decided_by, note
FROM aml_decisions
WHERE business_no = :business_no
ORDER BY decision_id
