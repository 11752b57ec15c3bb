DROP TABLE automation_results;
DROP TABLE automation_jobs;
ALTER TABLE plan_limits DROP COLUMN max_automation_jobs;
ALTER TABLE users DROP COLUMN timezone;
