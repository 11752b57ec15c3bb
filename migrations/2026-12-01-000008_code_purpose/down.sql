DELETE FROM email_login_codes WHERE purpose <> 'login';
DROP INDEX email_login_codes_email_idx;
ALTER TABLE email_login_codes DROP COLUMN purpose;
CREATE INDEX email_login_codes_email_idx ON email_login_codes (lower(email), created_at DESC);
