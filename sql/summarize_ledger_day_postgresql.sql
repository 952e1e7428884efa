SELECT brin_summarize_new_values('ix_ledger_day')
