INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)
VALUES (:business_no, :leg, :client_id, :business_date, :account, :amount_cents)
ON CONFLICT (business_no, leg) DO NOTHING
