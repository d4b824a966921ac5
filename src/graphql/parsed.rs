//! Parsed documents of the query texts callers repeat. Services on the hot path send the same
//! few query texts with other variables, and parsing the text is a good part of what a lookup
//! costs; a parsed document is kept per text, with its prepared lookup ([`super::fast`]) when it
//! is one. Only documents that were within the cost model's limits once are kept, and the cost
//! model still judges every request (its ids are in the variables).

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
}

impl ParsedCache {
    /// What is kept of `query`, if anything.
    pub fn get(&self, query: &str) -> Option<Arc<Kept>> {
        self.documents.read().ok()?.get(query).cloned()
    }

    /// Keeps the parsed document of `query`, and plans it.
    pub fn insert(&self, query: &str, document: &ExecutableDocument) -> Arc<Kept> {
        let kept = Arc::new(Kept {
            document: document.clone(),
            plan: fast::plan(document),
        });
        if let Ok(mut documents) = self.documents.write() {
            if documents.len() >= CAPACITY {
                documents.clear();
            }
            documents.insert(query.into(), kept.clone());
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
