-- Which token a refresh token was rotated from. The app refreshes with one
-- token from several requests at once; within a grace window the token just
-- rotated may be presented again, and it is "just rotated" only while none
-- of its children has been used in turn.
ALTER TABLE refresh_tokens
    ADD COLUMN parent_id uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL;
CREATE INDEX refresh_tokens_parent_id_idx ON refresh_tokens (parent_id);
