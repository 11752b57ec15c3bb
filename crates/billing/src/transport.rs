//! The App Store Server API client's HTTP transport: our pooled reqwest
//! client, with the library's fixed Apple origin replaced by a configured
//! base URL (for proxies and local stand-ins).

use std::time::Duration;

use app_store_server_library::api_client::transport::{Transport, TransportError};

#[derive(Clone)]
pub(crate) struct ReqwestTransport {
    http: reqwest::Client,
    /// e.g. `https://api.storekit.apple.com`, without a trailing slash.
    base_url: String,
}

impl ReqwestTransport {
    pub(crate) fn new(http: reqwest::Client, base_url: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }
}

/// How long one App Store Server API call may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl Transport for ReqwestTransport {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let url = format!("{}{path}", self.base_url);
        let mut outgoing = self
            .http
            .request(parts.method, url)
            .timeout(REQUEST_TIMEOUT)
            .body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        let response = outgoing.send().await.map_err(|err| {
            if err.is_timeout() {
                TransportError::Timeout
            } else {
                TransportError::NetworkError(err.to_string())
            }
        })?;
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let body = response
            .bytes()
            .await
            .map_err(|err| TransportError::NetworkError(err.to_string()))?;
        builder
            .body(body.to_vec())
            .map_err(|err| TransportError::InvalidResponse(err.to_string()))
    }
}
