CREATE INDEX assistants_status_last_active_idx ON assistants (status, last_active_at);
