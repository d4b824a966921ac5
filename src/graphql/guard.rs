//! The cost model ([`super::cost`]) at the door: the query text's length is checked, then the
//! query is parsed and judged, before the schema sees it. It has to come first: async-graphql's own checks that run right after
//! parsing (the recursion depth) already follow every fragment spread afresh, so a fragment
//! bomb must be refused before them. A text parsed before is not parsed again
//! ([`ParsedCache`]); a prepared lookup ([`super::fast`]) is handed back to be answered without
//! the executor, and any other document stays in the request, so the schema does not parse it
//! again.

use super::cost::{self, Limits, Refusal};
use super::fast::Plan;
use super::parsed::{Kept, ParsedCache};
use crate::metrics::Metrics;
use async_graphql::{ErrorExtensionValues, Request, Response, ServerError};
use prometheus::{IntCounter, IntCounterVec};
use std::sync::Arc;

/// What GraphQL counts.
#[derive(Clone)]
pub struct GraphqlMetrics {
    /// Requests refused by the cost model before they ran, by `extensions.code`.
    pub refused: IntCounterVec,
    /// Lookups answered as prepared lookups, without the executor.
    pub prepared: IntCounter,
}

impl GraphqlMetrics {
    pub fn new(m: &Metrics) -> Self {
        GraphqlMetrics {
            refused: m.counters(
                "tenant_catalog_graphql_refused_total",
                "GraphQL requests refused by the cost model before any resolver ran, by extensions.code.",
                "code",
                &super::cost::Refusal::CODES,
            ),
            prepared: m.counter(
                "tenant_catalog_graphql_prepared_total",
                "GraphQL route and routes lookups answered as prepared lookups, without the executor.",
            ),
        }
    }
}

/// What the door made of a request.
pub enum Judged {
    /// Refused: answer this.
    Refused(Box<Response>),
    /// A prepared lookup within the limits. The request holds no parsed document yet: if the
    /// lookup cannot answer, [`Judged::into_request`] readies it for the executor.
    Prepared(Prepared),
    /// Within the limits, its parsed document in the request, for the executor.
    Ready,
}

/// A prepared lookup: of the text itself, or of another text of its shape (then with this
/// text's own literals).
pub struct Prepared {
    kept: Arc<Kept>,
    like: Option<Plan>,
}

impl Prepared {
    pub fn plan(&self) -> Option<&Plan> {
        self.like.as_ref().or(self.kept.plan.as_ref())
    }
}

impl Judged {
    /// Readies `request` for the executor after a prepared lookup gave way: the kept document
    /// of its text, or (a text only its shape was kept of) the executor parses the text.
    pub fn into_request(prepared: &Prepared, request: &mut Request) {
        if prepared.like.is_none() {
            request.set_parsed_query(prepared.kept.document.clone());
        }
    }
}

/// Judges `request` against `limits`. A text parsed before comes from `parsed`; one parsed
/// now is kept there once it is within the limits.
pub fn judge(
    request: &mut Request,
    limits: &Limits,
    metrics: &GraphqlMetrics,
    parsed: &ParsedCache,
) -> Judged {
    let judged = if request.query.len() > cost::MAX_QUERY_BYTES {
        Err(Refusal::TextTooLong)
    } else if let Some(kept) = parsed.get(&request.query) {
        match cost::check(&kept.document, &request.variables, limits) {
            Ok(_) if kept.plan.is_some() => {
                return Judged::Prepared(Prepared { kept, like: None });
            }
            Ok(_) => {
                request.set_parsed_query(kept.document.clone());
                Ok(())
            }
            Err(refusal) => Err(refusal),
        }
    } else if let Some((kept, plan)) = parsed.prepared_like(&request.query) {
        // The shape's document costs what this text does: only string literals differ.
        match cost::check(&kept.document, &request.variables, limits) {
            Ok(_) => {
                let like = Some(plan);
                return Judged::Prepared(Prepared { kept, like });
            }
            Err(refusal) => Err(refusal),
        }
    } else {
        // Taken out and put back rather than cloned: the document borrows the request.
        let variables = std::mem::take(&mut request.variables);
        let text = request.query.clone();
        let judged = match request.parsed_query() {
            Ok(doc) => {
                let judged = cost::check(doc, &variables, limits).map(|_| ());
                if judged.is_ok() {
                    parsed.insert(&text, doc);
                }
                judged
            }
            Err(error) => return Judged::Refused(Box::new(Response::from_errors(vec![error]))),
        };
        request.variables = variables;
        judged
    };
    let Err(refusal) = judged else {
        return Judged::Ready;
    };
    metrics.refused.with_label_values(&[refusal.code()]).inc();
    let mut error = ServerError::new(refusal.to_string(), None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", refusal.code());
    error.extensions = Some(extensions);
    Judged::Refused(Box::new(Response::from_errors(vec![error])))
}
