DROP FUNCTION heyclaw_record_turns;
