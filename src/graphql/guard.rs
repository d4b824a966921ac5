//! The cost model ([`super::cost`]) as an async-graphql extension: it runs right after the
//! query is parsed, before validation and before any resolver, so a refused request does no
//! database work and no exponential validation walk.

use super::cost::{self, Limits};
use crate::metrics::Metrics;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, Variables};
use std::sync::Arc;

/// Installs the cost check on a schema.
pub struct CostGuard {
    pub limits: Limits,
    pub metrics: Option<Metrics>,
}

struct Check {
    limits: Limits,
    metrics: Option<Metrics>,
}

impl ExtensionFactory for CostGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Check {
            limits: self.limits,
            metrics: self.metrics.clone(),
        })
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Check {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if let Err(refusal) = cost::check(&doc, variables, &self.limits) {
            if let Some(metrics) = &self.metrics {
                metrics
                    .graphql_refused
                    .with_label_values(&[refusal.code()])
                    .inc();
            }
            let mut error = ServerError::new(refusal.to_string(), None);
            let mut extensions = async_graphql::ErrorExtensionValues::default();
            extensions.set("code", refusal.code());
            error.extensions = Some(extensions);
            return Err(error);
        }
        Ok(doc)
    }
}
