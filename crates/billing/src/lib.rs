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
//! Failures are one error type, [`BillingError`] (invalid, not found, not
//! configured, unavailable).
//!
//! # What it must not do
//!
//! It never accepts data it could not verify: the library's unverified modes
//! (Xcode, LocalTesting) are never built here, and a receipt alone never
//! yields a transaction. It knows nothing of users, plans or storage: which
//! product is which plan, and which account a purchase belongs to, are the
//! caller's decisions. It talks to Apple only to look up a receipt's
//! transaction.
//!
//! # Example
//!
//! Verification needs no network. Anything that is not Apple-signed data of
//! this app is refused:
//!
//! ```
//! use heyclaw_billing::{APPLE_ROOT_CA_G3, AppStore, AppStoreConfig, BillingError};
//!
//! let store = AppStore::new(AppStoreConfig {
//!     bundle_id: "com.example.app".into(),
//!     // Without the app's Apple ID only Sandbox purchases are accepted.
//!     app_apple_id: Some(1_234_567_890),
//!     root_certificates: vec![APPLE_ROOT_CA_G3.to_vec()],
//!     // No In-App Purchase key: StoreKit 1 receipts cannot be looked up.
//!     server_api: None,
//!     server_api_url: "https://api.storekit.apple.com".into(),
//!     server_api_sandbox_url: "https://api.storekit-sandbox.apple.com".into(),
//! })?;
//!
//! // A JWS with `alg: none` and no certificate chain.
//! let unsigned = "eyJhbGciOiJub25lIn0.eyJwcm9kdWN0SWQiOiJ4In0.c2ln";
//! assert!(matches!(store.verify_transaction(unsigned), Err(BillingError::Invalid(_))));
//! assert!(matches!(store.verify_notification("garbage"), Err(BillingError::Invalid(_))));
//!
//! // A StoreKit 2 transaction from the app would be verified like this:
//! // let purchase = store.verify_transaction(&signed_transaction)?;
//! // println!("{} until {:?}", purchase.product_id, purchase.expires_at);
//! # fn shared<T: Send + Sync>(_: &T) {}
//! # shared(&store);
//! # Ok::<(), BillingError>(())
//! ```

#![deny(missing_docs)]

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
