//! The cost model ([`super::cost`]) at the door: the query text's length is checked, then the
//! query is parsed and judged, before the schema sees it. It has to come first: async-graphql's own checks that run right after
//! parsing (the recursion depth) already follow every fragment spread afresh, so a fragment
//! bomb must be refused before them. The parsed document stays in the request, so the schema
//! does not parse it again.

use super::cost::{self, Limits, Refusal};
use crate::metrics::Metrics;
use async_graphql::{ErrorExtensionValues, Request, Response, ServerError};

/// The response that refuses `request`, or `None` when it is within `limits`.
pub fn refusal(request: &mut Request, limits: &Limits, metrics: &Metrics) -> Option<Response> {
    let judged = if request.query.len() > cost::MAX_QUERY_BYTES {
        Err(Refusal::TextTooLong)
    } else {
        // Taken out and put back rather than cloned: the document borrows the request.
        let variables = std::mem::take(&mut request.variables);
        let judged = match request.parsed_query() {
            Ok(doc) => cost::check(doc, &variables, limits).map(|_| ()),
            Err(error) => return Some(Response::from_errors(vec![error])),
        };
        request.variables = variables;
        judged
    };
    let refusal = judged.err()?;
    metrics
        .graphql_refused
        .with_label_values(&[refusal.code()])
        .inc();
    let mut error = ServerError::new(refusal.to_string(), None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", refusal.code());
    error.extensions = Some(extensions);
    Some(Response::from_errors(vec![error]))
}
