DROP TABLE app_store_notifications;
DROP TABLE subscriptions;
DROP TABLE plan_limits;
