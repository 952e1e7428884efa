UPDATE records
SET state = 'AML_HOLD'
WHERE business_no = :business_no AND state = 'APPROVED'
