-- The turn recorder now writes a batch a few users per call (crates/app/
-- src/recorder.rs), so a call's fixed cost counts several times a batch.
-- Its arrays are parameters: under the default plan cache mode each call
-- planned every statement of the function again (custom plans, ~0.25 ms
-- a call); the generic plans cost the same to run (pgbench, 8 and 50
-- users).
ALTER FUNCTION heyclaw_record_turns SET plan_cache_mode = force_generic_plan;
