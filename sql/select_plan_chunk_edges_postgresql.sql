-- Where the chunks of plan rows lo..hi begin, as record rows: every step-th planned record in
-- page order (record_tid). Chunk k covers the records from edge k up to edge k + 1, so chunks
-- applied at once never touch the same records page. Plan rows without a record_tid (planned
-- before V012) are applied by business number instead.
SELECT x.record_tid
FROM (
    SELECT p.record_tid, ROW_NUMBER() OVER (ORDER BY p.record_tid) AS rn
    FROM settlement_plan AS p
    WHERE p.client_id = :client_id AND p.business_date = :business_date AND p.ord BETWEEN :lo AND :hi
      AND p.record_tid IS NOT NULL
) AS x
WHERE (x.rn - 1) % :step = 0
ORDER BY x.record_tid
