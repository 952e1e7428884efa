-- Settlement, version 19: a day's plan is no longer written row by row. Settlement reads the day
-- as (value date, file) groups, finds where the prefunded balance runs out, and applies that in
-- the same snapshot (sql/select_settlement_groups_*.sql, apply_settlement_range_postgresql.sql):
-- settlement_plan, one row per payment, is dropped. Payments written before version 13 get their
-- value date column from their payload (the follow-up, daybook.settlement.migrate_v019), so that
-- the groups are plain columns.
DROP TABLE settlement_plan;
