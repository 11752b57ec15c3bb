DROP TRIGGER users_notify_resident_change ON users;
DROP FUNCTION heyclaw_notify_resident_user_change();
DROP TABLE agent_files;
DROP TABLE agent_slots;
DROP FUNCTION heyclaw_notify_slot_change();
DROP TABLE gateway_shards;
