SELECT a.decided_by, COUNT(*) AS n
FROM approvals AS a
INNER JOIN records AS r ON a.business_no = r.business_no
WHERE r.business_date = :business_date
GROUP BY a.decided_by
ORDER BY a.decided_by
