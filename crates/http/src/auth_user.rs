//! `AuthUser`: the extractor every protected route takes. It reads the
//! bearer token and asks the accounts use case to authenticate it.

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use heyclaw_app::accounts::Authenticated;

use crate::{ApiError, AppState};

/// An authenticated, active user and the claims of their access token.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Authenticated);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&"AppState is not registered"))?;
            let authenticated = state.accounts.authenticate(bearer.as_deref()).await?;
            Ok(AuthUser(authenticated))
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header, if that is what
/// the request carries.
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
