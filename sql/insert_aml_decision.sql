INSERT INTO aml_decisions (business_no, decision, decided_by, note)
VALUES (:business_no, :decision, :decided_by, :note)
