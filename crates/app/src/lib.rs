//! HeyClaw's use cases — sign up, send a message, a voice turn, reconcile — as
//! plain async functions over persistence, the gateway client, speech and
//! provisioning. It knows no HTTP types, so it is testable without a server.
