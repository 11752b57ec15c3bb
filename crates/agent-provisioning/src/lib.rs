//! Per-user OpenClaw agents: workspaces created from `templates/`, the gateway's
//! agent roster as typed data written atomically, reconcile from the database
//! and reload strategies. It never derives a path from user input.
