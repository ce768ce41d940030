//! The OpenAPI document (generated from the handlers' annotations, so it cannot drift) and
//! the Prometheus-style metrics endpoint.

use axum::{extract::State, http::header, response::IntoResponse};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{AppState, accounts, blobs, factors, mail, rekey, stepup, vault};

#[derive(OpenApi)]
#[openapi(
    info(title = "KRYPT7 API", description = "Ciphertext store, OPAQUE sign-in and change feed. Every byte string is unpadded base64url."),
    paths(
        accounts::health,
        accounts::register_start,
        accounts::register_finish,
        accounts::login_start,
        accounts::login_finish,
        factors::login_second_factor,
        stepup::start,
        stepup::finish,
        stepup::send_sms,
        factors::totp_setup,
        factors::totp_confirm,
        factors::totp_disable,
        factors::sms_setup,
        factors::sms_confirm,
        factors::sms_disable,
        accounts::list_sessions,
        accounts::revoke_session,
        accounts::sign_out,
        accounts::rename_device,
        accounts::account,
        accounts::update_account,
        accounts::delete_account,
        accounts::attempts,
        accounts::password_start,
        accounts::change_password,
        rekey::start,
        rekey::stage,
        rekey::finish,
        accounts::account_keys,
        accounts::directory,
        vault::push_item,
        vault::vaults,
        vault::put_vault,
        vault::commit,
        vault::changes,
        vault::events,
        blobs::create,
        blobs::status,
        blobs::put_chunk,
        blobs::complete,
        blobs::content,
        blobs::delete,
        blobs::usage,
        mail::send,
        mail::take,
    ),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_json().unwrap_or_default(),
    )
}

/// Counters a Prometheus scraper can read. They describe the service, never a user.
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let m = &st.metrics;
    let body = format!(
        "# TYPE krypt7_requests_total counter\nkrypt7_requests_total {}\n\
         # TYPE krypt7_unauthorized_total counter\nkrypt7_unauthorized_total {}\n",
        m.requests.load(std::sync::atomic::Ordering::Relaxed),
        m.unauthorized.load(std::sync::atomic::Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
