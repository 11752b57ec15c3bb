DROP TABLE email_login_codes;
DROP TABLE password_reset_tokens;
DROP TABLE refresh_tokens;
DROP TABLE users;
