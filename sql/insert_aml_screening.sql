INSERT INTO aml_screenings (
    client_id, business_date, payments, amount_sum, file_sum, line_sum, list_sha256
)
VALUES (:client_id, :business_date, :payments, :amount_sum, :file_sum, :line_sum, :list_sha256)
