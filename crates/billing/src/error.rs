/// Why App Store data was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The data is not Apple-signed data for this app: garbage, unsigned,
    /// self-signed, tampered, an expired chain, another bundle id, or an
    /// environment we do not accept. The message says which, for the log.
    #[error("invalid App Store data: {0}")]
    Invalid(String),
    /// The App Store has no such transaction.
    #[error("the App Store does not know this purchase")]
    NotFound,
    /// A part of billing is not configured (e.g. no App Store Server API key
    /// to look up a StoreKit 1 receipt).
    #[error("billing is not configured: {0}")]
    NotConfigured(&'static str),
    /// Apple could not be reached, or answered with a server error.
    #[error("the App Store is unavailable: {0}")]
    Unavailable(String),
}
