-- Where the chunks of plan rows lo..hi begin, as record rows: every step-th of the sampled
-- planned records in page order (record_tid). Chunk k covers the records from edge k up to edge
-- k + 1, so chunks applied at once never touch the same records page. The sample is every
-- sample-th plan row (sample 1 for a day of up to 20,000 payments: exact edges); a large day's
-- chunks are then equal to within a fraction of a percent, and the sort is of about 10,000
-- record_tids instead of every plan row (1M: 0.6 s). Plan rows without a record_tid (planned
-- before V012) are applied by business number instead.
SELECT x.record_tid
FROM (
    SELECT p.record_tid, ROW_NUMBER() OVER (ORDER BY p.record_tid) AS rn
    FROM settlement_plan AS p
    WHERE p.client_id = :client_id AND p.business_date = :business_date AND p.ord BETWEEN :lo AND :hi
      AND p.record_tid IS NOT NULL AND (p.ord - :lo) % :sample = 0
) AS x
WHERE (x.rn - 1) % :step = 0
ORDER BY x.record_tid
