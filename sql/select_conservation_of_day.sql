SELECT
    f.folder,
    f.name,
    f.sha256,
    f.status,
    f.reason_code,
    f.record_count,
    COUNT(r.business_no) AS published_rows,
    SUM(CASE WHEN r.state IN ('REJECTED', 'SETTLED', 'RETURNED', 'DISBURSED', 'DECLINED') THEN 1 ELSE 0 END)
        AS final_rows
FROM files AS f
LEFT JOIN records AS r ON f.file_id = r.file_id
WHERE f.intake_date = :business_date
GROUP BY f.file_id, f.folder, f.name, f.sha256, f.status, f.reason_code, f.record_count
ORDER BY f.folder, f.name, f.file_id
