//! What a GraphQL request may make the server do, judged from the parsed document before
//! validation or any resolver runs, so that a refusal costs no database work.
//!
//! async-graphql's own depth and complexity walks follow every fragment spread afresh: a
//! fragment that spreads the next one twice, 20 levels deep, is 824 bytes that expand to 2^20
//! selections, and that work is synchronous (a timeout cannot stop it). Here each fragment is
//! tallied once and its tally reused wherever it is spread, so the walk is linear in the size
//! of the document, and the document is refused as soon as its expanded size passes the cap.
//!
//! The model (docs/graphql.md, "Limits"):
//! - the query text is at most [`MAX_QUERY_BYTES`], checked before it is parsed;
//! - every field costs at least 1, `__typename` and introspection included;
//! - `tenants` costs `1 + first` and multiplies what it selects by `first` (default 20);
//! - `routes` costs `1 + ids` and multiplies what it selects by its number of ids;
//! - `history` costs 50 (a database read per tenant, of all its events), and so do
//!   `explanation`, and `tenant` and `route` with `asOf` or `knownAt` (they read and refold it);
//! - `route`, `tenant` and `tenantByHost` each look up one id, `routes` as many as it names:
//!   the ids of a request are counted against one budget;
//! - a request has a bounded number of root fields (aliases count).

use crate::graphql::query::{DEFAULT_PAGE, MAX_PAGE};
use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Value as ConstValue, Variables};
use std::collections::HashMap;

/// The longest query text accepted, in bytes. Values (ids above all) belong in the variables;
/// a longer text is refused before it is parsed, since parsing is the one cost of a refusal
/// that grows with the document (about 5 ms for 50 KB here).
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// The largest a request may expand to, in fields, after fragments are spread.
pub const MAX_FIELDS: u64 = 1_000;
/// The most a request may cost (see the module documentation).
pub const MAX_COST: u64 = 5_000;
/// The most root fields (aliases included) one request may select.
pub const MAX_ROOT_FIELDS: u64 = 20;
/// How deep fragments may spread fragments.
pub const MAX_FRAGMENT_DEPTH: usize = 32;
/// What a field that reads a tenant's history costs.
pub const HISTORY_COST: u64 = 50;

/// Whether a lookup asks about the past (`asOf`, `knownAt`).
fn past(field: &Field) -> bool {
    field
        .arguments
        .iter()
        .any(|(name, _)| matches!(name.node.as_str(), "asOf" | "knownAt"))
}

/// The budget of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_fields: u64,
    pub max_cost: u64,
    /// Tenant ids (and hosts) one request may look up, over all its fields.
    pub max_ids: u64,
    pub max_root_fields: u64,
}

impl Limits {
    pub fn with_max_ids(max_ids: usize) -> Self {
        Limits {
            max_fields: MAX_FIELDS,
            max_cost: MAX_COST,
            max_ids: u64::try_from(max_ids).unwrap_or(u64::MAX),
            max_root_fields: MAX_ROOT_FIELDS,
        }
    }
}

/// Why a request is refused. Each has a stable `extensions.code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the query text is over {} KiB; send ids and other values as variables, or split the query",
        MAX_QUERY_BYTES / 1024
    )]
    TextTooLong,
    #[error(
        "the query expands to more than {limit} fields once its fragments are spread; ask for less in one request"
    )]
    TooLarge { limit: u64 },
    #[error(
        "fragments spread fragments more than {MAX_FRAGMENT_DEPTH} levels deep; flatten the query"
    )]
    FragmentsTooDeep,
    #[error("fragment `{0}` spreads itself; a fragment cannot include itself")]
    FragmentCycle(String),
    #[error(
        "the query costs {cost}, over the limit of {limit} (docs/graphql.md says what each field costs); split it or ask for smaller pages"
    )]
    TooCostly { cost: u64, limit: u64 },
    #[error(
        "the query looks up {ids} tenant ids or hosts, over the limit of {limit} per request (GRAPHQL_MAX_ROUTE_IDS); split it"
    )]
    TooManyIds { ids: u64, limit: u64 },
    #[error(
        "the query selects {fields} root fields (aliases count), over the limit of {limit}; use `routes` for many lookups"
    )]
    TooManyRootFields { fields: u64, limit: u64 },
}

impl Refusal {
    /// The stable `extensions.code` of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::TextTooLong | Refusal::TooLarge { .. } | Refusal::FragmentsTooDeep => {
                "QUERY_TOO_LARGE"
            }
            Refusal::FragmentCycle(_) => "GRAPHQL_VALIDATION_FAILED",
            Refusal::TooCostly { .. } => "QUERY_TOO_COSTLY",
            Refusal::TooManyIds { .. } => "TOO_MANY_IDS",
            Refusal::TooManyRootFields { .. } => "TOO_MANY_ROOT_FIELDS",
        }
    }

    /// Every code a refusal may have, for the metric's labels.
    pub const CODES: [&'static str; 5] = [
        "QUERY_TOO_LARGE",
        "GRAPHQL_VALIDATION_FAILED",
        "QUERY_TOO_COSTLY",
        "TOO_MANY_IDS",
        "TOO_MANY_ROOT_FIELDS",
    ];
}

/// What a selection set makes the server do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Fields once fragments are spread.
    pub fields: u64,
    pub cost: u64,
    /// Tenant ids and hosts looked up.
    pub ids: u64,
    /// Fields at the set's own level (through fragments and inline fragments).
    pub top: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.fields = self.fields.saturating_add(other.fields);
        self.cost = self.cost.saturating_add(other.cost);
        self.ids = self.ids.saturating_add(other.ids);
        self.top = self.top.saturating_add(other.top);
    }
}

/// Checks every operation of `doc` (and every fragment, used or not: validation walks them
/// all) against `limits`; returns the tally of the costliest operation.
pub fn check(
    doc: &ExecutableDocument,
    variables: &Variables,
    limits: &Limits,
) -> Result<Tally, Refusal> {
    let mut walk = Walk {
        doc,
        variables,
        defaults: defaults(doc),
        memo: HashMap::new(),
        open: Vec::new(),
        max_fields: limits.max_fields,
    };
    for name in doc.fragments.keys() {
        walk.fragment(name)?;
    }
    let mut worst = Tally::default();
    for (_, operation) in doc.operations.iter() {
        let tally = walk.set(&operation.node.selection_set.node)?;
        if tally.top > limits.max_root_fields {
            return Err(Refusal::TooManyRootFields {
                fields: tally.top,
                limit: limits.max_root_fields,
            });
        }
        if tally.ids > limits.max_ids {
            return Err(Refusal::TooManyIds {
                ids: tally.ids,
                limit: limits.max_ids,
            });
        }
        if tally.cost > limits.max_cost {
            return Err(Refusal::TooCostly {
                cost: tally.cost,
                limit: limits.max_cost,
            });
        }
        if tally.cost >= worst.cost {
            worst = tally;
        }
    }
    Ok(worst)
}

/// Default values of the operations' variables, for variables the request does not send.
fn defaults(doc: &ExecutableDocument) -> HashMap<&Name, &ConstValue> {
    doc.operations
        .iter()
        .flat_map(
            |(_, op): (_, &async_graphql::Positioned<OperationDefinition>)| {
                op.node.variable_definitions.iter()
            },
        )
        .filter_map(|v| Some((&v.node.name.node, &v.node.default_value.as_ref()?.node)))
        .collect()
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    defaults: HashMap<&'a Name, &'a ConstValue>,
    memo: HashMap<&'a str, Tally>,
    /// Fragments being tallied, innermost last.
    open: Vec<&'a str>,
    max_fields: u64,
}

impl<'a> Walk<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Result<Tally, Refusal> {
        let mut tally = Tally::default();
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let mut one = self.field(&field.node)?;
                    one.top = 1;
                    tally.add(one);
                }
                Selection::InlineFragment(inline) => {
                    tally.add(self.set(&inline.node.selection_set.node)?);
                }
                Selection::FragmentSpread(spread) => {
                    tally.add(self.fragment(&spread.node.fragment_name.node)?);
                }
            }
            if tally.fields > self.max_fields {
                return Err(Refusal::TooLarge {
                    limit: self.max_fields,
                });
            }
        }
        Ok(tally)
    }

    /// A fragment's tally, computed once. An unknown fragment counts nothing here; validation
    /// refuses it.
    fn fragment(&mut self, name: &'a Name) -> Result<Tally, Refusal> {
        if let Some(tally) = self.memo.get(name.as_str()) {
            return Ok(*tally);
        }
        if self.open.contains(&name.as_str()) {
            return Err(Refusal::FragmentCycle(name.to_string()));
        }
        if self.open.len() >= MAX_FRAGMENT_DEPTH {
            return Err(Refusal::FragmentsTooDeep);
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(Tally::default());
        };
        self.open.push(name.as_str());
        let tally = self.set(&fragment.node.selection_set.node);
        self.open.pop();
        let tally = tally?;
        self.memo.insert(name.as_str(), tally);
        Ok(tally)
    }

    fn field(&mut self, field: &'a Field) -> Result<Tally, Refusal> {
        let children = self.set(&field.selection_set.node)?;
        // What the field itself costs, how many times what it selects is resolved, and how
        // many ids it looks up.
        let (base, times, ids) = match field.name.node.as_str() {
            "tenants" => {
                let first = self
                    .int(field, "first")
                    .unwrap_or(i64::from(DEFAULT_PAGE))
                    .clamp(0, i64::from(MAX_PAGE));
                let n = u64::try_from(first).unwrap_or(0);
                (1 + n, n, 0)
            }
            "routes" => {
                let n = self.len(field, "tenantIds");
                (n.saturating_add(1), n, n)
            }
            // A subscription follows its ids for as long as it lasts: each counts as an id.
            "tenantChanged" | "routeChanged" => {
                let n = self.len(field, "tenantIds");
                (n.saturating_add(1), 1, n)
            }
            "history" | "explanation" => (HISTORY_COST, 1, 0),
            // A lookup of the past reads and refolds the tenant's history.
            "route" | "tenant" if past(field) => (HISTORY_COST, 1, 1),
            // Root lookups take an argument; `Tenant.route` takes none.
            "route" | "tenant" | "tenantByHost" if !field.arguments.is_empty() => (1, 1, 1),
            _ => (1, 1, 0),
        };
        Ok(Tally {
            fields: children.fields.saturating_add(1),
            cost: base.saturating_add(times.saturating_mul(children.cost)),
            ids: ids.saturating_add(times.saturating_mul(children.ids)),
            top: 0,
        })
    }

    /// An argument's value, its variables replaced by what the request sent (or their
    /// defaults).
    fn argument(&self, field: &'a Field, name: &str) -> Option<ConstValue> {
        let (_, value) = field.arguments.iter().find(|(n, _)| n.node == name)?;
        value
            .node
            .clone()
            .into_const_with(|var| {
                Ok::<_, std::convert::Infallible>(
                    self.variables
                        .get(&var)
                        .or_else(|| self.defaults.get(&var).copied())
                        .cloned()
                        .unwrap_or(ConstValue::Null),
                )
            })
            .ok()
    }

    fn int(&self, field: &'a Field, name: &str) -> Option<i64> {
        match self.argument(field, name)? {
            ConstValue::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The number of items of a list argument; a single value counts one (GraphQL's input
    /// coercion makes it a list of one).
    fn len(&self, field: &'a Field, name: &str) -> u64 {
        match self.argument(field, name) {
            Some(ConstValue::List(items)) => items.len() as u64,
            Some(ConstValue::Null) | None => 0,
            Some(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests;
