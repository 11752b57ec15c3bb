DROP TABLE usage_log;
DROP TABLE daily_usage;
DROP TABLE assistants;
