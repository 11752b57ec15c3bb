ALTER TABLE refresh_tokens DROP COLUMN parent_id;
