-- E-mailed codes serve two purposes: signing in, and confirming an account
-- deletion from the web page. A code only works for its own purpose.
ALTER TABLE email_login_codes
    ADD COLUMN purpose text NOT NULL DEFAULT 'login' CHECK (purpose IN ('login', 'delete'));
DROP INDEX email_login_codes_email_idx;
CREATE INDEX email_login_codes_email_idx ON email_login_codes (lower(email), purpose, created_at DESC);
