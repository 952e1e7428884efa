-- Who already decided on each record of a batch; the business numbers come as one JSON array.
SELECT business_no, decided_by
FROM approvals
WHERE business_no IN (SELECT value FROM json_each(:business_nos))
