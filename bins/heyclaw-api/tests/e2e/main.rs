//! End-to-end tests through two real OpenClaw gateway shards (the pinned
//! npm package) and the offline dev model. The gateways serve the whole
//! target; test phases take turns, each with its own API, database and a
//! keeper per shard (a keeper's first pass empties slots of users its
//! database does not know).
//!
//! Run with `cargo test -p heyclaw-api --test e2e` (`cargo xtask ci` does);
//! the gateway is installed into ~/.cache/heyclaw on first use.

#![expect(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

mod stack;
mod tests;

/// One test, phases in a fixed order: they share the gateways, and the last
/// phases kill and restart them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_through_the_real_gateways() {
    tests::the_prompt_plugin_trims_only_openclaws_sections().await;
    tests::generated_configs_pass_openclaw_config_validate().await;
    tests::seed_step_8_through_the_real_gateway().await;
    tests::a_conversation_continues_across_hibernation().await;
    tests::per_turn_costs().await;
    tests::tenant_isolation_no_dangerous_tool_runs().await;
    tests::twenty_signups_restart_nothing_and_interrupt_no_one().await;
    tests::twenty_concurrent_signups_can_all_message_within_seconds().await;
    tests::an_automation_wakes_its_hibernated_agent_and_comes_back().await;
    tests::the_keeper_cleans_up_old_sessions_through_the_gateway().await;
    tests::a_dead_shard_fails_only_its_users_then_recovers().await;
    tests::deleting_config_and_roster_loses_no_agent().await;
}
