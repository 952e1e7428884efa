SELECT brin_summarize_new_values('ix_settlement_plan_day') + brin_summarize_new_values('ix_settlement_plan_record_tid')
