SELECT business_no, decided_by
FROM approvals
WHERE business_no IN :business_nos
