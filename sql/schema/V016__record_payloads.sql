-- Records, version 16: the row as the client sent it in a table of its own.
--
-- records.payload held each row's cells as a JSON object (~360 bytes of a ~550-byte row). It is
-- written once, by validation, and read by the few statements that need the client's own fields
-- (AML, the clearing file, the large-value report, the archive, the review screen). But every
-- record row is updated twice a day (approval routes it, settlement moves it to its final
-- state), and each update writes a new version of the whole row: at a million payments,
-- settling the day's records took 7.1 s with the payload moved out against 9.1 s with it
-- (bench/settlement.py, the same data and run; docs/performance.md).
--
-- record_payloads keeps the payload, keyed by the record's (file_id, line_no), with the record's
-- client and business date so that a statement reading one client's day finds that day's
-- payloads by index (the join below carries the filter on records over to them) instead of
-- scanning every payload ever received. The view records_with_payload is records with its
-- payload column; statements that need the payload read the view, the others read records.
--
-- The follow-up step of this version (daybook.validation.migrate_v016, same transaction) copies
-- the payloads, fills value_date (V013) from the payload where it is still empty (the settlement
-- plan no longer reads the payload), drops records.payload and creates the view. On
-- PostgreSQL, rows written before the upgrade keep their old size on disk until they are next
-- updated or the table is rewritten (VACUUM FULL, outside business hours).
CREATE TABLE record_payloads (
    file_id BIGINT NOT NULL,
    line_no INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX ix_record_payloads_day ON record_payloads (business_date, client_id);
