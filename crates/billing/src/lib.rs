//! Apple In-App Purchase for HeyClaw: only data Apple signed may change a
//! plan.
//!
//! - [`AppStore::verify_transaction`] checks a StoreKit 2 signed transaction
//!   (JWS): its x5c chain up to Apple Root CA G3, its signature, bundle id and
//!   environment (Production and Sandbox are both accepted; App Review buys in
//!   Sandbox). Verification is done by the maintained
//!   `app-store-server-library` (ring backend).
//! - [`AppStore::transaction_from_receipt`] takes a StoreKit 1 app receipt,
//!   which is never trusted by itself: the transaction id read from it is
//!   only used to ask the App Store Server API for the subscription's current
//!   signed transaction, which is then verified like any other.
//! - [`AppStore::verify_notification`] checks an App Store Server
//!   Notification V2 and the signed transaction and renewal info inside it.
//!
//! The library's unverified modes (Xcode, LocalTesting) are never built here.
//! This crate knows nothing of users, plans or storage.

mod error;
mod server_api;
mod store;
mod transport;

pub use error::BillingError;
pub use server_api::ServerApiCredentials;
pub use store::{
    APPLE_ROOT_CA_G3, AppStore, AppStoreConfig, StoreEnvironment, VerifiedNotification,
    VerifiedRenewal, VerifiedTransaction, looks_like_jws,
};
