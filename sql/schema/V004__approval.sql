-- Approval, version 4: who submitted a file's records for review (the maker of maker-checker).
-- An operator submits a file once; the submitter may never decide on any record of that file.
CREATE TABLE approval_submissions (
    file_id BIGINT PRIMARY KEY REFERENCES files (file_id),
    submitted_by TEXT NOT NULL,
    submitted_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX ix_approvals_decided_by ON approvals (decided_by);
