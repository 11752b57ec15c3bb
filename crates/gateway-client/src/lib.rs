//! HTTP client for the OpenClaw gateway: chat completions (JSON and SSE),
//! model listing and health, with typed errors. It knows nothing of users,
//! plans or storage.
