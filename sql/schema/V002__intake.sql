-- Intake, version 2: at most one unfinished receipt per folder, name and content, so two intake
-- runs racing on the same drop register it once (the loser reads the winner's receipt).
CREATE UNIQUE INDEX ux_files_pending ON files (folder, name, sha256) WHERE inbox_done = 0;
