//! What an admin handler answers: the status, the JSON body and the outcome in words, which the
//! audit trail keeps.

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder};

/// A successful answer, with the outcome in words for the audit trail.
pub struct Reply {
    pub status: StatusCode,
    /// JSON text: serialised from the view types, so fields keep their declared order.
    pub body: String,
    pub outcome: String,
}

/// The outcome of a reply, from the handler to the audit.
#[derive(Clone)]
pub(super) struct Outcome(pub(super) String);

impl Responder for Reply {
    type Body = BoxBody;
    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let mut response = HttpResponse::build(self.status)
            .content_type("application/json")
            .body(self.body);
        response.extensions_mut().insert(Outcome(self.outcome));
        response
    }
}
