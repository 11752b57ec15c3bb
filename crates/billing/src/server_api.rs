//! The App Store Server API: where a StoreKit 1 receipt's transaction is
//! looked up. Requests carry a JWT signed with the app's In-App Purchase key
//! (the library signs it); Production is asked first, then Sandbox, as Apple
//! advises for receipts whose environment is not known.

use app_store_server_library::{
    app_store_server_api_client::{AppStoreServerApiClient, AppStoreServerApiClientError},
    models::app_store_environment::Environment,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{BillingError, transport::ReqwestTransport};

/// The In-App Purchase key from App Store Connect (Users and Access →
/// Integrations → In-App Purchase). Its `Debug` output redacts the private
/// key.
#[derive(Clone)]
pub struct ServerApiCredentials {
    /// The key's id (ten characters, shown beside the key).
    pub key_id: String,
    /// The issuer id (a UUID, shown above the list of keys).
    pub issuer_id: String,
    /// The `.p8` file's contents (PKCS#8 PEM).
    pub private_key: SecretString,
}

impl std::fmt::Debug for ServerApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerApiCredentials")
            .field("key_id", &self.key_id)
            .field("issuer_id", &self.issuer_id)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

pub(crate) struct ServerApi {
    production: AppStoreServerApiClient<ReqwestTransport>,
    sandbox: AppStoreServerApiClient<ReqwestTransport>,
}

impl ServerApi {
    pub(crate) fn new(
        credentials: &ServerApiCredentials,
        bundle_id: &str,
        production_url: &str,
        sandbox_url: &str,
        http: &reqwest::Client,
    ) -> Result<Self, BillingError> {
        let client = |environment: Environment, url: &str| {
            AppStoreServerApiClient::new(
                credentials.private_key.expose_secret().as_bytes().to_vec(),
                &credentials.key_id,
                &credentials.issuer_id,
                bundle_id,
                environment,
                ReqwestTransport::new(http.clone(), url),
            )
            .map_err(|err| BillingError::Invalid(format!("App Store Server API client: {err}")))
        };
        Ok(Self {
            production: client(Environment::Production, production_url)?,
            sandbox: client(Environment::Sandbox, sandbox_url)?,
        })
    }

    /// The latest signed transaction of every subscription the customer who
    /// made `transaction_id` has.
    pub(crate) async fn subscriptions(
        &self,
        transaction_id: &str,
    ) -> Result<Vec<String>, BillingError> {
        match self.statuses(&self.production, transaction_id).await {
            Err(BillingError::NotFound) => self.statuses(&self.sandbox, transaction_id).await,
            other => other,
        }
    }

    async fn statuses(
        &self,
        client: &AppStoreServerApiClient<ReqwestTransport>,
        transaction_id: &str,
    ) -> Result<Vec<String>, BillingError> {
        let response = client
            .get_all_subscription_statuses(transaction_id, None)
            .await
            .map_err(api_error)?;
        Ok(response
            .data
            .unwrap_or_default()
            .into_iter()
            .flat_map(|group| group.last_transactions.unwrap_or_default())
            .filter_map(|item| item.signed_transaction_info)
            .collect())
    }
}

fn api_error(err: AppStoreServerApiClientError) -> BillingError {
    match err.status() {
        404 => BillingError::NotFound,
        400 => BillingError::Invalid(format!("the App Store refused the lookup: {err}")),
        401 | 403 => {
            // Our key is wrong or revoked: an operator problem, not the user's.
            tracing::error!(error = %err, "App Store Server API refused our credentials");
            BillingError::Unavailable("the App Store refused our credentials".to_owned())
        }
        _ => BillingError::Unavailable(err.to_string()),
    }
}
