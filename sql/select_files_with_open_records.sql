-- The day's files with an accepted record not yet final: no result file for them yet. One pass
-- over the day's records for all its files (a parallel scan at volume), instead of one index
-- range per file (0.4 s each for a 500,000-row file, every row read when none is open). A final
-- state never changes again, so a file found without open records here stays so.
SELECT DISTINCT file_id
FROM records
WHERE business_date = :business_date AND ack_status = 'ACCEPTED'
  AND state NOT IN ('SETTLED', 'RETURNED', 'DISBURSED', 'DECLINED')
