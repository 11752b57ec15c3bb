//! The two web pages users reach from outside the app: account deletion
//! (App Store rule 5.1.1(v)) and the page a password-reset mail links to.
//! Plain HTML, CSS and JS compiled into the binary; no CDN, no inline
//! script or style, so the Content-Security-Policy can forbid both.

use actix_web::{HttpResponse, get};
use utoipa_actix_web::service_config::ServiceConfig;

const CSS: &str = include_str!("../pages/pages.css");
const DELETE_HTML: &str = include_str!("../pages/delete-account.html");
const DELETE_JS: &str = include_str!("../pages/delete-account.js");
const RESET_HTML: &str = include_str!("../pages/reset-password.html");
const RESET_JS: &str = include_str!("../pages/reset-password.js");

/// Same-origin scripts, styles and API calls only; nothing may frame the
/// pages, and forms cannot post anywhere (the scripts call the API).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

fn page(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-security-policy", CONTENT_SECURITY_POLICY))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("x-frame-options", "DENY"))
        // The reset link carries its token in the query string.
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header(("cache-control", "no-store"))
        .body(body)
}

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The account-deletion page (App Store rule 5.1.1(v)).
#[utoipa::path(tag = "pages", responses((status = 200, content_type = "text/html", body = String)))]
#[get("/delete-account")]
async fn delete_account() -> HttpResponse {
    page(HTML, DELETE_HTML)
}

/// The page a password-reset mail links to (`?token=`).
#[utoipa::path(tag = "pages", responses((status = 200, content_type = "text/html", body = String)))]
#[get("/reset-password")]
async fn reset_password() -> HttpResponse {
    page(HTML, RESET_HTML)
}

/// The pages' stylesheet.
#[utoipa::path(tag = "pages", responses((status = 200, content_type = "text/css", body = String)))]
#[get("/pages/pages.css")]
async fn css() -> HttpResponse {
    page("text/css; charset=utf-8", CSS)
}

/// The deletion page's script.
#[utoipa::path(tag = "pages", responses((status = 200, content_type = "text/javascript", body = String)))]
#[get("/pages/delete-account.js")]
async fn delete_js() -> HttpResponse {
    page(JAVASCRIPT, DELETE_JS)
}

/// The reset page's script.
#[utoipa::path(tag = "pages", responses((status = 200, content_type = "text/javascript", body = String)))]
#[get("/pages/reset-password.js")]
async fn reset_js() -> HttpResponse {
    page(JAVASCRIPT, RESET_JS)
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(delete_account)
        .service(reset_password)
        .service(css)
        .service(delete_js)
        .service(reset_js);
}
