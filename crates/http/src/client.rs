//! What the transport knows about the caller: IP address (for attempt
//! limits) and user agent (kept with refresh tokens as the device).

use std::net::IpAddr;

use actix_web::{HttpRequest, http::header};
use heyclaw_app::accounts::ClientInfo;

/// `trust_proxy_headers` decides whether `Forwarded`/`X-Forwarded-For` name
/// the client. Only behind a reverse proxy that sets them: otherwise any
/// client could pick the IP its attempts are counted against.
pub fn client_info(req: &HttpRequest, trust_proxy_headers: bool) -> ClientInfo {
    let ip = if trust_proxy_headers {
        req.connection_info()
            .realip_remote_addr()
            .and_then(parse_ip)
    } else {
        req.peer_addr().map(|addr| addr.ip())
    };
    let device = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    ClientInfo { ip, device }
}

fn parse_ip(raw: &str) -> Option<IpAddr> {
    raw.parse::<IpAddr>().ok().or_else(|| {
        raw.parse::<std::net::SocketAddr>()
            .ok()
            .map(|addr| addr.ip())
    })
}
