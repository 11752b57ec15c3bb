//! End-to-end tests through the real OpenClaw gateway (the pinned npm
//! package) and the offline dev model. One gateway serves the whole target;
//! tests take turns (each starts its own API and database, and the API's
//! start-up reconcile makes the roster that test's own).
//!
//! Run with `cargo test -p heyclaw-api --test e2e` (`cargo xtask ci` does);
//! the gateway is installed into ~/.cache/heyclaw on first use.

#![expect(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]

mod stack;
mod tests;

/// One test, phases in a fixed order: they share one gateway, and the last
/// phase restarts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_through_the_real_gateway() {
    tests::generated_configs_pass_openclaw_config_validate().await;
    tests::seed_step_8_through_the_real_gateway().await;
    tests::a_conversation_continues_in_the_same_gateway_session().await;
    tests::per_turn_costs().await;
    tests::tenant_isolation_no_dangerous_tool_runs().await;
    tests::twenty_signups_restart_nothing_and_interrupt_no_one().await;
    tests::twenty_concurrent_signups_can_all_message_within_seconds().await;
    tests::an_automation_the_agent_asks_for_runs_and_comes_back().await;
    tests::reconcile_after_deleting_the_config_restores_every_agent().await;
}
