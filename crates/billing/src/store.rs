use app_store_server_library::{
    models::{
        app_store_environment::Environment,
        jws_renewal_info_decoded_payload::JWSRenewalInfoDecodedPayload,
        jws_transaction_decoded_payload::JWSTransactionDecodedPayload,
    },
    receipt_utility::extract_transaction_id_from_app_receipt,
    signed_data_verifier::{SignedDataVerifier, SignedDataVerifierError},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    BillingError,
    server_api::{ServerApi, ServerApiCredentials},
};

/// Apple Root CA - G3 (DER), from <https://www.apple.com/certificateauthority/>.
/// SHA-256 fingerprint `63:34:3A:BF:…:3E:91:79`, checked by a test. Put it in
/// [`AppStoreConfig::root_certificates`].
pub const APPLE_ROOT_CA_G3: &[u8] = include_bytes!("../certs/AppleRootCA-G3.cer");

/// Where a purchase was made. App Review and TestFlight buy in Sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEnvironment {
    /// Real purchases from the App Store.
    Production,
    /// Test purchases: Xcode sandbox accounts, TestFlight, App Review.
    Sandbox,
}

impl StoreEnvironment {
    /// Apple's name for it (`Production`, `Sandbox`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "Production",
            Self::Sandbox => "Sandbox",
        }
    }
}

/// A transaction whose signature chains to Apple's root, for this app.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedTransaction {
    /// The id of the first purchase of the subscription: stable across
    /// renewals, so it identifies the purchase.
    pub original_transaction_id: String,
    /// This transaction's id (a renewal has a new one).
    pub transaction_id: String,
    /// The product bought, as set up in App Store Connect.
    pub product_id: String,
    /// When the subscription period ends (`None` for non-subscriptions).
    pub expires_at: Option<DateTime<Utc>>,
    /// Set when Apple refunded or revoked the transaction.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When Apple signed this snapshot: newer snapshots win.
    pub signed_at: DateTime<Utc>,
    /// The token the app passed to StoreKit, if any.
    pub app_account_token: Option<Uuid>,
    /// Where the purchase was made (the verifier that accepted it).
    pub environment: StoreEnvironment,
}

/// A subscription's renewal info, verified like a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedRenewal {
    /// The product the subscription renews into.
    pub auto_renew_product_id: Option<String>,
    /// The end of a billing grace period, when in one.
    pub grace_period_expires_at: Option<DateTime<Utc>>,
    /// When Apple signed this renewal info, if it says.
    pub signed_at: Option<DateTime<Utc>>,
}

/// An App Store Server Notification V2, verified, with its verified contents.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedNotification {
    /// Apple's id of the notification: a retried delivery has the same one,
    /// so it is how a notification is applied once.
    pub notification_uuid: String,
    /// Apple's notification type, e.g. `DID_RENEW`.
    pub notification_type: String,
    /// Apple's subtype, e.g. `GRACE_PERIOD`, `UPGRADE`.
    pub subtype: Option<String>,
    /// When Apple signed the notification.
    pub signed_at: DateTime<Utc>,
    /// The environment the notification (and what it carries) is from.
    pub environment: StoreEnvironment,
    /// The signed transaction it carries, verified, if any.
    pub transaction: Option<VerifiedTransaction>,
    /// The signed renewal info it carries, verified, if any.
    pub renewal: Option<VerifiedRenewal>,
}

/// What [`AppStore`] needs.
#[derive(Debug, Clone)]
pub struct AppStoreConfig {
    /// The app's bundle id (`com.weiblocks.heyclaw`).
    pub bundle_id: String,
    /// The app's Apple ID (a number, App Store Connect → App Information).
    /// Production data can only be verified with it; without it only
    /// Sandbox purchases are accepted.
    pub app_apple_id: Option<i64>,
    /// DER root certificates the chains must end in (Apple Root CA G3).
    pub root_certificates: Vec<Vec<u8>>,
    /// The In-App Purchase key, to look up StoreKit 1 receipts. Without it
    /// [`AppStore::transaction_from_receipt`] answers
    /// [`BillingError::NotConfigured`]; everything else works.
    pub server_api: Option<ServerApiCredentials>,
    /// The App Store Server API for Production,
    /// `https://api.storekit.apple.com` (or a proxy or stand-in).
    pub server_api_url: String,
    /// The App Store Server API for Sandbox,
    /// `https://api.storekit-sandbox.apple.com`.
    pub server_api_sandbox_url: String,
}

/// Verifies App Store data. Build it once; it is cheap to share (`Send +
/// Sync`; wrap it in an `Arc`).
///
/// Verification is local and CPU-only: the x5c chain must end in one of the
/// configured roots and its certificates must be valid *now* (not merely
/// when the data was signed); verified keys are cached. Revocation of
/// Apple's certificates is not checked online. Only
/// [`transaction_from_receipt`](Self::transaction_from_receipt) talks to
/// Apple.
pub struct AppStore {
    production: Option<SignedDataVerifier>,
    sandbox: SignedDataVerifier,
    api: Option<ServerApi>,
}

impl std::fmt::Debug for AppStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStore")
            .field("production", &self.production.is_some())
            .field("server_api", &self.api.is_some())
            .finish_non_exhaustive()
    }
}

impl AppStore {
    /// Builds the verifiers (and, with [`AppStoreConfig::server_api`], the
    /// App Store Server API clients). Nothing is sent.
    ///
    /// # Errors
    /// [`BillingError::Invalid`] when the configuration cannot work (no root
    /// certificate, an unusable API key).
    pub fn new(config: AppStoreConfig) -> Result<Self, BillingError> {
        if config.root_certificates.is_empty() {
            return Err(BillingError::Invalid(
                "no root certificate to verify against".to_owned(),
            ));
        }
        let verifier = |environment: Environment, app_apple_id: Option<i64>| {
            // Online checks: certificates must be valid now, not merely when
            // the data says it was signed.
            SignedDataVerifier::new(
                config.root_certificates.clone(),
                environment,
                config.bundle_id.clone(),
                app_apple_id,
                true,
            )
            .map_err(|err| BillingError::Invalid(format!("verifier: {err}")))
        };
        let production = match config.app_apple_id {
            Some(id) => Some(verifier(Environment::Production, Some(id))?),
            None => None,
        };
        let api = match &config.server_api {
            Some(credentials) => Some(ServerApi::new(
                credentials,
                &config.bundle_id,
                &config.server_api_url,
                &config.server_api_sandbox_url,
                &reqwest::Client::new(),
            )?),
            None => None,
        };
        Ok(Self {
            production,
            sandbox: verifier(Environment::Sandbox, config.app_apple_id)?,
            api,
        })
    }

    /// Verifies a StoreKit 2 signed transaction.
    ///
    /// # Errors
    /// [`BillingError::Invalid`] for anything that is not a valid Apple-signed
    /// transaction of this app (text that does not even look like a JWS is
    /// refused before any cryptography); [`BillingError::NotConfigured`] for
    /// a Production transaction when no app Apple ID is configured.
    pub fn verify_transaction(&self, jws: &str) -> Result<VerifiedTransaction, BillingError> {
        if !looks_like_jws(jws) {
            return Err(BillingError::Invalid("not a signed transaction".to_owned()));
        }
        let (payload, environment) =
            self.verified(|verifier| verifier.verify_and_decode_signed_transaction(jws))?;
        transaction(payload, environment)
    }

    /// Verifies a notification and the signed transaction and renewal info
    /// it carries (each checked like any other signed data).
    ///
    /// # Errors
    /// As [`AppStore::verify_transaction`].
    pub fn verify_notification(
        &self,
        signed_payload: &str,
    ) -> Result<VerifiedNotification, BillingError> {
        if !looks_like_jws(signed_payload) {
            return Err(BillingError::Invalid("not a signed payload".to_owned()));
        }
        let (payload, environment) =
            self.verified(|verifier| verifier.verify_and_decode_notification(signed_payload))?;
        let verifier = self.verifier(environment)?;
        let (signed_transaction, signed_renewal) =
            payload.data.as_ref().map_or((None, None), |data| {
                (
                    data.signed_transaction_info.as_deref(),
                    data.signed_renewal_info.as_deref(),
                )
            });
        let transaction = match signed_transaction {
            Some(jws) => Some(transaction(
                verifier
                    .verify_and_decode_signed_transaction(jws)
                    .map_err(invalid)?,
                environment,
            )?),
            None => None,
        };
        let renewal = match signed_renewal {
            Some(jws) => Some(renewal(
                verifier
                    .verify_and_decode_renewal_info(jws)
                    .map_err(invalid)?,
            )),
            None => None,
        };
        Ok(VerifiedNotification {
            notification_uuid: payload
                .notification_uuid
                .ok_or_else(|| missing("notificationUUID"))?,
            notification_type: payload
                .notification_type
                .as_ref()
                .and_then(apple_name)
                .ok_or_else(|| missing("notificationType"))?,
            subtype: payload.subtype.as_ref().and_then(apple_name),
            signed_at: payload.signed_date.ok_or_else(|| missing("signedDate"))?,
            environment,
            transaction,
            renewal,
        })
    }

    /// The current signed transaction of the subscription a StoreKit 1 app
    /// receipt is about, from the App Store Server API, verified. The
    /// receipt itself is only used for the transaction id it names.
    ///
    /// Production is asked first, then Sandbox when Production does not know
    /// the purchase: at most two requests, each bounded by 15 seconds, not
    /// retried. Of the customer's subscriptions, the transaction that
    /// expires last is returned. Dropping the future cancels the lookup.
    ///
    /// # Errors
    /// [`BillingError::Invalid`] for a receipt without a purchase, or data that
    /// fails verification; [`BillingError::NotFound`] when Apple does not know
    /// the purchase; [`BillingError::NotConfigured`] without an API key;
    /// [`BillingError::Unavailable`] when Apple cannot be reached.
    pub async fn transaction_from_receipt(
        &self,
        receipt: &str,
    ) -> Result<VerifiedTransaction, BillingError> {
        let api = self
            .api
            .as_ref()
            .ok_or(BillingError::NotConfigured("App Store Server API key"))?;
        let transaction_id = extract_transaction_id_from_app_receipt(receipt.trim())
            .map_err(|err| BillingError::Invalid(format!("unreadable app receipt: {err}")))?
            .ok_or_else(|| BillingError::Invalid("the receipt holds no purchase".to_owned()))?;
        let mut newest: Option<VerifiedTransaction> = None;
        for signed in api.subscriptions(&transaction_id).await? {
            let verified = self.verify_transaction(&signed)?;
            if newest
                .as_ref()
                .is_none_or(|best| verified.expires_at > best.expires_at)
            {
                newest = Some(verified);
            }
        }
        newest.ok_or(BillingError::NotFound)
    }

    /// Runs `verify` with the Production verifier, then (for data of the
    /// other environment) with the Sandbox one.
    fn verified<T>(
        &self,
        verify: impl Fn(&SignedDataVerifier) -> Result<T, SignedDataVerifierError>,
    ) -> Result<(T, StoreEnvironment), BillingError> {
        if let Some(production) = &self.production {
            match verify(production) {
                Ok(value) => return Ok((value, StoreEnvironment::Production)),
                Err(SignedDataVerifierError::InvalidEnvironment) => {}
                Err(err) => return Err(invalid(err)),
            }
        }
        match verify(&self.sandbox) {
            Ok(value) => Ok((value, StoreEnvironment::Sandbox)),
            Err(SignedDataVerifierError::InvalidEnvironment) if self.production.is_none() => Err(
                BillingError::NotConfigured("APPLE_APP_ID (needed for Production purchases)"),
            ),
            Err(err) => Err(invalid(err)),
        }
    }

    fn verifier(&self, environment: StoreEnvironment) -> Result<&SignedDataVerifier, BillingError> {
        match environment {
            StoreEnvironment::Sandbox => Ok(&self.sandbox),
            StoreEnvironment::Production => self
                .production
                .as_ref()
                .ok_or(BillingError::NotConfigured("APPLE_APP_ID")),
        }
    }
}

/// Whether `text` has the shape of a compact JWS (three base64url parts),
/// as a StoreKit 2 signed transaction does; a StoreKit 1 receipt is one
/// base64 blob. A shape check only: nothing is decoded or verified.
///
/// ```
/// use heyclaw_billing::looks_like_jws;
///
/// assert!(looks_like_jws("eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.c2ln"));
/// assert!(!looks_like_jws("MIIT0gYJKoZIhvcNAQcCoIITwzCCE78CAQEx"));
/// ```
pub fn looks_like_jws(text: &str) -> bool {
    let parts: Vec<&str> = text.trim().split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn transaction(
    payload: JWSTransactionDecodedPayload,
    environment: StoreEnvironment,
) -> Result<VerifiedTransaction, BillingError> {
    Ok(VerifiedTransaction {
        original_transaction_id: payload
            .original_transaction_id
            .ok_or_else(|| missing("originalTransactionId"))?,
        transaction_id: payload
            .transaction_id
            .ok_or_else(|| missing("transactionId"))?,
        product_id: payload.product_id.ok_or_else(|| missing("productId"))?,
        expires_at: payload.expires_date,
        revoked_at: payload.revocation_date,
        signed_at: payload.signed_date.ok_or_else(|| missing("signedDate"))?,
        app_account_token: payload.app_account_token,
        environment,
    })
}

fn renewal(payload: JWSRenewalInfoDecodedPayload) -> VerifiedRenewal {
    VerifiedRenewal {
        auto_renew_product_id: payload.auto_renew_product_id,
        grace_period_expires_at: payload.grace_period_expires_date,
        signed_at: payload.signed_date,
    }
}

/// Apple's own spelling of an enum value (`DID_RENEW`, `GRACE_PERIOD`).
fn apple_name(value: &impl serde::Serialize) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => Some(name),
        _ => None,
    }
}

fn missing(field: &str) -> BillingError {
    BillingError::Invalid(format!("signed data without {field}"))
}

fn invalid(err: SignedDataVerifierError) -> BillingError {
    BillingError::Invalid(err.to_string())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn the_committed_root_is_apples_root_ca_g3() {
        assert_eq!(
            hex::encode(Sha256::digest(APPLE_ROOT_CA_G3)),
            "63343abfb89a6a03ebb57e9b3f5fa7be7c4f5c756f3017b3a8c488c3653e9179"
        );
    }

    #[test]
    fn tells_a_signed_transaction_from_a_receipt() {
        assert!(looks_like_jws("eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.c2ln"));
        assert!(!looks_like_jws("MIIT0gYJKoZIhvcNAQcCoIITwzCCE78CAQEx"));
        assert!(!looks_like_jws("a.b"));
        assert!(!looks_like_jws("a..c"));
        assert!(!looks_like_jws("a+b.c.d"));
    }

    fn store(app_apple_id: Option<i64>) -> AppStore {
        AppStore::new(AppStoreConfig {
            bundle_id: "com.weiblocks.heyclaw".into(),
            app_apple_id,
            root_certificates: vec![APPLE_ROOT_CA_G3.to_vec()],
            server_api: None,
            server_api_url: "http://127.0.0.1:9".into(),
            server_api_sandbox_url: "http://127.0.0.1:9".into(),
        })
        .unwrap()
    }

    #[test]
    fn unsigned_and_garbage_data_is_invalid() {
        let store = store(Some(1));
        // alg none, no chain.
        let unsigned = "eyJhbGciOiJub25lIn0.eyJwcm9kdWN0SWQiOiJ4In0.c2ln";
        for data in [unsigned, "garbage", "a.b.c"] {
            assert!(
                matches!(
                    store.verify_transaction(data),
                    Err(BillingError::Invalid(_))
                ),
                "{data}"
            );
        }
    }

    #[tokio::test]
    async fn a_receipt_needs_the_server_api() {
        assert!(matches!(
            store(None).transaction_from_receipt("MIIB").await,
            Err(BillingError::NotConfigured(_))
        ));
    }
}
