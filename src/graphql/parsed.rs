//! Parsed documents of the query texts callers repeat. Services on the hot path send the same
//! few query texts with other variables, and parsing the text is a good part of what a lookup
//! costs; a parsed document is kept per text, with its prepared lookup ([`super::fast`]) when it
//! is one. Only documents that were within the cost model's limits once are kept, and the cost
//! model still judges every request (its ids are in the variables).
//!
//! A lookup whose ids are written into the text (`{ route(tenantId: "...") { shard } }`) is a
//! new text for every id. Its *shape* (the text with each string literal emptied, see
//! [`lift_literals`]) is the same, and so is everything the cost model counts: a prepared lookup
//! is kept by shape too, and a new text of a kept shape is answered from it, with its own
//! literals, without being parsed.

use super::fast::{self, Plan};
use async_graphql::parser::types::ExecutableDocument;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Texts kept at most. A caller that sends ever new texts only recycles the cache (it is
/// emptied when full): lookups then parse again, as without it.
pub const CAPACITY: usize = 512;

/// A kept text: its document, and its plan if it is a prepared lookup.
#[derive(Debug)]
pub struct Kept {
    pub document: ExecutableDocument,
    pub plan: Option<Plan>,
}

/// The parsed documents of one process; cheap to clone.
#[derive(Clone, Default)]
pub struct ParsedCache {
    documents: Arc<RwLock<HashMap<Box<str>, Arc<Kept>>>>,
    /// Prepared lookups by shape.
    shapes: Arc<RwLock<HashMap<Box<str>, Arc<Kept>>>>,
}

/// A text as its shape and its string literals, in the order they are written: `{ route(id:
/// "a") { x } }` is `{ route(id: "") { x } }` and `["a"]`. `None` for a text this reading is
/// not sure of (a block string, an escape, a comment), which is then only kept by its text.
pub fn lift_literals(text: &str) -> Option<(String, Vec<String>)> {
    let mut shape = String::with_capacity(text.len());
    let mut literals = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(['"', '#', '\\']) {
        if !rest[start..].starts_with('"') {
            return None;
        }
        shape.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        let end = after.find(['"', '\\', '\n'])?;
        if (end == 0 && after.starts_with("\"\"")) || !after[end..].starts_with('"') {
            // A block string, or an escape or line end inside the literal.
            return None;
        }
        literals.push(after[..end].to_owned());
        shape.push('"');
        rest = &after[end + 1..];
    }
    shape.push_str(rest);
    Some((shape, literals))
}

/// Keeps `kept` under `key` in `map`, emptying the map when full.
fn keep(map: &RwLock<HashMap<Box<str>, Arc<Kept>>>, key: &str, kept: &Arc<Kept>) {
    if let Ok(mut map) = map.write() {
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(key.into(), kept.clone());
    }
}

impl ParsedCache {
    /// What is kept of `query`, if anything.
    pub fn get(&self, query: &str) -> Option<Arc<Kept>> {
        self.documents.read().ok()?.get(query).cloned()
    }

    /// A prepared lookup of `query`'s shape, with the plan for `query`'s own literals: what a
    /// text never seen before is answered from, when a text of its shape was.
    pub fn prepared_like(&self, query: &str) -> Option<(Arc<Kept>, Plan)> {
        let (shape, literals) = lift_literals(query)?;
        let kept = self.shapes.read().ok()?.get(shape.as_str()).cloned()?;
        let plan = kept.plan.as_ref()?.with_literals(literals)?;
        Some((kept, plan))
    }

    /// Keeps the parsed document of `query`, and plans it; a prepared lookup is kept by its
    /// shape too.
    pub fn insert(&self, query: &str, document: &ExecutableDocument) -> Arc<Kept> {
        let kept = Arc::new(Kept {
            document: document.clone(),
            plan: fast::plan(document),
        });
        keep(&self.documents, query, &kept);
        if kept.plan.is_some()
            && let Some((shape, _)) = lift_literals(query)
        {
            keep(&self.shapes, &shape, &kept);
        }
        kept
    }

    /// Texts kept now.
    pub fn len(&self) -> usize {
        self.documents.read().map_or(0, |d| d.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(q).expect("valid query")
    }

    #[test]
    fn a_kept_document_is_the_parse_of_its_text() {
        let cache = ParsedCache::default();
        let q = "query($id: ID) { route(tenantId: $id) { shard epoch } }";
        assert!(cache.get(q).is_none());
        cache.insert(q, &parse(q));
        let kept = cache.get(q).expect("kept");
        assert_eq!(format!("{:?}", kept.document), format!("{:?}", parse(q)));
        assert!(kept.plan.is_some(), "a lookup is prepared");
        let other = "{ shards { id } }";
        assert!(cache.get(other).is_none());
        assert!(cache.insert(other, &parse(other)).plan.is_none());
    }

    #[test]
    fn a_text_is_its_shape_and_its_string_literals() {
        let (shape, literals) =
            lift_literals(r#"{ routes(tenantIds: ["a", "b"]) { shard } }"#).expect("lifted");
        assert_eq!(shape, r#"{ routes(tenantIds: ["", ""]) { shard } }"#);
        assert_eq!(literals, ["a", "b"]);
        let (shape, literals) =
            lift_literals("query($id: ID) { route(tenantId: $id) { x } }").expect("no literal");
        assert_eq!(shape, "query($id: ID) { route(tenantId: $id) { x } }");
        assert!(literals.is_empty());
        assert_eq!(
            lift_literals(r#"{ r(a: "") }"#).map(|l| l.1),
            Some(vec![String::new()])
        );
        for unsure in [
            r#"{ route(host: """block""") { x } }"#,
            r#"{ route(host: "a\"b") { x } }"#,
            "{ route(host: \"a\nb\") { x } }",
            "{ route(host: \"a\") { x } } # \"",
            r#"{ route(host: "open) { x } }"#,
        ] {
            assert_eq!(lift_literals(unsure), None, "{unsure}");
        }
    }

    #[test]
    fn a_new_text_of_a_kept_shape_is_prepared_with_its_own_literals() {
        let cache = ParsedCache::default();
        let seen = r#"{ route(tenantId: "9e3779b1-0000-4000-8000-000000000001") { shard } }"#;
        cache.insert(seen, &parse(seen));
        let new = r#"{ route(tenantId: "9e3779b1-0000-4000-8000-000000000002") { shard } }"#;
        let (_, plan) = cache.prepared_like(new).expect("of a kept shape");
        let own = cache
            .insert(new, &parse(new))
            .plan
            .clone()
            .expect("prepared");
        assert_eq!(
            plan, own,
            "the plan of the new text, as if it had been parsed"
        );
        // Not a lookup: nothing is kept by shape.
        let other = r#"{ tenant(id: "x") { id } }"#;
        cache.insert(other, &parse(other));
        assert!(
            cache
                .prepared_like(r#"{ tenant(id: "y") { id } }"#)
                .is_none()
        );
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = ParsedCache::default();
        for n in 0..(CAPACITY * 3 + 7) {
            let q = format!("{{ a{n}: shards {{ id }} }}");
            cache.insert(&q, &parse(&q));
            assert!(cache.len() <= CAPACITY);
        }
        assert!(!cache.is_empty());
    }
}
