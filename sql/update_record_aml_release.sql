UPDATE records
SET state = 'APPROVED'
WHERE business_no = :business_no AND state = 'AML_HOLD'
