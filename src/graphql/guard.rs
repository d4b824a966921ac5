//! The cost model ([`super::cost`]) at the door: the query text's length is checked, then the
//! query is parsed and judged, before the schema sees it. It has to come first: async-graphql's own checks that run right after
//! parsing (the recursion depth) already follow every fragment spread afresh, so a fragment
//! bomb must be refused before them. The parsed document stays in the request, so the schema
//! does not parse it again, and a text parsed before is not parsed again ([`ParsedCache`]).

use super::cost::{self, Limits, Refusal};
use super::parsed::ParsedCache;
use crate::metrics::Metrics;
use async_graphql::{ErrorExtensionValues, Request, Response, ServerError};

/// The response that refuses `request`, or `None` when it is within `limits`. A text parsed
/// before comes from `parsed`; one parsed now is kept there once it is within the limits.
pub fn refusal(
    request: &mut Request,
    limits: &Limits,
    metrics: &Metrics,
    parsed: &ParsedCache,
) -> Option<Response> {
    let judged = if request.query.len() > cost::MAX_QUERY_BYTES {
        Err(Refusal::TextTooLong)
    } else {
        let kept = parsed.get(&request.query);
        let hit = kept.is_some();
        if let Some(doc) = kept {
            request.set_parsed_query(doc);
        }
        // Taken out and put back rather than cloned: the document borrows the request.
        let variables = std::mem::take(&mut request.variables);
        // The text is copied only when it is new, to be kept.
        let new_text = (!hit).then(|| request.query.clone());
        let judged = match request.parsed_query() {
            Ok(doc) => {
                let judged = cost::check(doc, &variables, limits).map(|_| ());
                if let (Ok(()), Some(text)) = (&judged, &new_text) {
                    parsed.insert(text, doc);
                }
                judged
            }
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
