use super::*;

fn plan_of(q: &str) -> Option<Plan> {
    plan(&async_graphql::parser::parse_query(q).expect("parses"))
}

#[test]
fn lookups_of_scalar_fields_are_prepared() {
    for q in [
        "query($id: ID!) { route(tenantId: $id) { shard endpoint serving } }",
        "query($id: ID) { r: route(tenantId: $id) { s: shard epoch status __typename } }",
        "query Lookup($host: String!) { route(host: $host) { tenantId host region state } }",
        "{ route(tenantId: \"9e3779b1-0000-4000-8000-000000000001\") { shard } }",
        "query($ids: [ID!]!) { routes(tenantIds: $ids) { tenantId shard } }",
        "{ routes(tenantIds: [\"a\", \"b\"]) { shard } }",
    ] {
        assert!(plan_of(q).is_some(), "{q}");
    }
}

#[test]
fn anything_else_goes_to_the_executor() {
    for q in [
        // Fragments, directives, other fields, nested selections.
        "query($id: ID) { route(tenantId: $id) { ...f } } fragment f on Route { shard }",
        "query($id: ID) { route(tenantId: $id) { shard @include(if: true) } }",
        "query($id: ID) { route(tenantId: $id) @skip(if: false) { shard } }",
        "query($id: ID) { route(tenantId: $id) { shard } shards { id } }",
        "{ tenant(id: \"x\") { id } }",
        "query($id: ID) { route(tenantId: $id) { shard nope } }",
        // Arguments the resolver refuses, or the validator would.
        "query($id: ID, $host: String) { route(tenantId: $id, host: $host) { shard } }",
        "{ route { shard } }",
        "query($id: String) { route(tenantId: $id) { shard } }",
        "query($id: ID = \"x\") { route(tenantId: $id) { shard } }",
        "query($id: ID, $unused: ID) { route(tenantId: $id) { shard } }",
        "{ route(tenantId: $undeclared) { shard } }",
        "{ route(tenantId: 7) { shard } }",
        "query($ids: [ID!]) { routes(tenantIds: $ids) { shard } }",
        "query($ids: [ID]!) { routes(tenantIds: $ids) { shard } }",
        // Two fields with one response key, mutations, several operations.
        "query($id: ID) { route(tenantId: $id) { shard shard: region } }",
        "mutation($id: ID) { route(tenantId: $id) { shard } }",
        "query A($id: ID) { route(tenantId: $id) { shard } } query B { shards { id } }",
    ] {
        assert!(plan_of(q).is_none(), "{q}");
    }
}

mod against_the_executor {
    //! Every prepared answer is the executor's, byte for byte: for every combination of
    //! `Route`'s fields, with and without aliases, for `route` by id and by host and for
    //! `routes`, over an in-memory route source (no database).

    use super::super::{answer, plan};
    use crate::domain::{BaseDomain, Placement, RouteStatus, ShardId, Site, TenantId};
    use crate::graphql::lookup::{Lookups, RouteQuery, RouteSource};
    use crate::graphql::types::RouteField;
    use crate::lifecycle::ShownState;
    use crate::snapshot::{Destination, Route};
    use async_graphql::{EmptyMutation, EmptySubscription, Request, Result, Schema, Variables};
    use futures_util::future::BoxFuture;
    use std::sync::Arc;

    struct Memory {
        base: BaseDomain,
        routes: Vec<Route>,
    }

    impl RouteSource for Memory {
        fn routes<'a>(&'a self, ids: &'a [TenantId]) -> BoxFuture<'a, Result<Vec<Option<Route>>>> {
            let found = ids
                .iter()
                .map(|id| self.routes.iter().find(|r| r.to.tenant_id == *id).cloned())
                .collect();
            Box::pin(std::future::ready(Ok(found)))
        }
        fn route_by_site<'a>(&'a self, site: &'a Site) -> BoxFuture<'a, Result<Option<Route>>> {
            let host = self.base.host(site);
            let found = self.routes.iter().find(|r| r.to.host == host).cloned();
            Box::pin(std::future::ready(Ok(found)))
        }
        fn base_domain(&self) -> Result<&BaseDomain> {
            Ok(&self.base)
        }
    }

    fn id(n: u128) -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(
            0x9e37_79b1_0000_4000_8000_0000_0000_0000 + n,
        ))
    }

    fn memory() -> Arc<Memory> {
        let base = BaseDomain::try_from("example.net").expect("valid");
        let route = |n: u128, site: &str, state: ShownState, status: RouteStatus| {
            let placement = Placement {
                region: "eu-west-1".parse().expect("region"),
                shard: ShardId::try_from("eu-west-1-2").expect("shard"),
            };
            let to = Destination::new(
                id(n),
                base.host(&Site::try_from(site).expect("site")),
                state,
                placement,
                (7, status),
            )
            .expect("a state with a route");
            Route {
                to: Arc::new(to),
                endpoint: "https://eu-west-1-2.db.example.net"
                    .try_into()
                    .expect("endpoint"),
            }
        };
        Arc::new(Memory {
            routes: vec![
                route(1, "acme", ShownState::Active, RouteStatus::Online),
                route(2, "globex", ShownState::Suspended, RouteStatus::ReadOnly),
            ],
            base,
        })
    }

    /// The selection of the fields whose bits are set in `mask`, aliased or not.
    fn selection(mask: u32, aliased: bool) -> String {
        RouteField::ALL
            .iter()
            .enumerate()
            .filter(|(n, _)| mask & (1 << n) != 0)
            .map(|(n, f)| match aliased && n % 2 == 0 {
                true => format!("a{n}: {}", f.name()),
                false => f.name().to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[tokio::test]
    async fn every_combination_of_fields_and_aliases_answers_as_the_executor_does() {
        let source = memory();
        let schema = Schema::build(RouteQuery, EmptyMutation, EmptySubscription)
            .data(Lookups {
                source: source.clone(),
                max_route_ids: 10,
            })
            .finish();
        let (one, two, unknown) = (id(1).to_string(), id(2).to_string(), id(99).to_string());
        // Each lookup in its variable form and with its arguments written into the text.
        let forms = [
            (
                "query($v: ID) { r: route(tenantId: $v) { SEL } }",
                serde_json::json!(one),
                format!("{{ r: route(tenantId: \"{one}\") {{ SEL }} }}"),
            ),
            (
                "query($v: String) { route(host: $v) { SEL } }",
                serde_json::json!("GLOBEX.example.net."),
                "{ route(host: \"GLOBEX.example.net.\") { SEL } }".to_owned(),
            ),
            (
                "query($v: [ID!]!) { routes(tenantIds: $v) { SEL } }",
                serde_json::json!([two, unknown, one]),
                format!("{{ routes(tenantIds: [\"{two}\", \"{unknown}\", \"{one}\"]) {{ SEL }} }}"),
            ),
            (
                "query($v: ID) { route(tenantId: $v) { SEL } }",
                serde_json::json!(unknown),
                format!("{{ route(tenantId: \"{unknown}\") {{ SEL }} }}"),
            ),
        ];
        let mut compared = 0;
        for mask in 1..(1u32 << RouteField::ALL.len()) {
            for aliased in [false, true] {
                let sel = selection(mask, aliased);
                for (text, variable, literal) in &forms {
                    let query = text.replace("SEL", &sel);
                    let request = || {
                        Request::new(query.clone())
                            .variables(Variables::from_json(serde_json::json!({ "v": variable })))
                    };
                    let executed =
                        serde_json::to_vec(&schema.execute(request()).await).expect("json");
                    let doc = async_graphql::parser::parse_query(&query).expect("parses");
                    let plan = plan(&doc).unwrap_or_else(|| panic!("prepared: {query}"));
                    let prepared = answer(&plan, &request(), &*source, 10)
                        .await
                        .unwrap_or_else(|| panic!("answered: {query}"));
                    assert_eq!(
                        String::from_utf8_lossy(&prepared),
                        String::from_utf8_lossy(&executed),
                        "{query}"
                    );
                    // The same lookup with its arguments in the text: the executor says the
                    // same, and so does the prepared lookup of another text of its shape.
                    let inlined = literal.replace("SEL", &sel);
                    let executed_inline =
                        serde_json::to_vec(&schema.execute(Request::new(inlined.clone())).await)
                            .expect("json");
                    assert_eq!(executed_inline, executed, "{inlined}");
                    let prepared =
                        answer_like(&inlined, &Request::new(inlined.clone()), &source).await;
                    assert_eq!(
                        String::from_utf8_lossy(&prepared),
                        String::from_utf8_lossy(&executed_inline),
                        "{inlined}"
                    );
                    compared += 2;
                }
            }
        }
        assert_eq!(compared, 1023 * 2 * 2 * forms.len());
    }

    /// The prepared answer to `text` from a cache that has seen only another text of its shape
    /// (its literals each replaced by another id or host).
    async fn answer_like(text: &str, request: &Request, source: &Memory) -> Vec<u8> {
        let other = text
            .replace(&id(1).to_string(), &id(7).to_string())
            .replace(&id(2).to_string(), &id(8).to_string())
            .replace(&id(99).to_string(), &id(9).to_string())
            .replace("GLOBEX", "initech")
            .replace(".example.net", "-other.example.net");
        assert_ne!(other, text, "another text of the same shape");
        let cache = crate::graphql::parsed::ParsedCache::default();
        cache.insert(
            &other,
            &async_graphql::parser::parse_query(&other).expect("parses"),
        );
        assert!(cache.get(text).is_none(), "the text itself was never seen");
        let (_, plan) = cache
            .prepared_like(text)
            .unwrap_or_else(|| panic!("a prepared lookup of the shape of {text}"));
        answer(&plan, request, source, 10)
            .await
            .unwrap_or_else(|| panic!("answered: {text}"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Any `routes` lookup (ids known and unknown, repeated, in any order, any selection)
        /// and any `route(host:)` (any case, with or without the trailing dot) answers the same
        /// with its arguments written into the text as with them in variables: through the
        /// executor, the prepared lookup of the text, and that of another text of its shape.
        #[test]
        fn literal_and_variable_forms_answer_alike(
            picks in proptest::collection::vec(0usize..3, 1..8),
            mask in 1u32..(1 << RouteField::ALL.len()),
            aliased: bool,
            upper in proptest::collection::vec(proptest::bool::ANY, 6),
            dot: bool,
        ) {
            let known = [id(1), id(2), id(99)];
            let ids: Vec<String> = picks.iter().map(|&n| known[n].to_string()).collect();
            let host: String = "globex"
                .chars()
                .zip(&upper)
                .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                .collect::<String>()
                + ".example.net"
                + if dot { "." } else { "" };
            let sel = selection(mask, aliased);
            let forms = [
                (
                    format!("query($v: [ID!]!) {{ routes(tenantIds: $v) {{ {sel} }} }}"),
                    serde_json::json!(ids),
                    format!("{{ routes(tenantIds: [\"{}\"]) {{ {sel} }} }}", ids.join("\", \"")),
                ),
                (
                    format!("query($v: String) {{ route(host: $v) {{ {sel} }} }}"),
                    serde_json::json!(host),
                    format!("{{ route(host: \"{host}\") {{ {sel} }} }}"),
                ),
            ];
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let source = memory();
                let schema = Schema::build(RouteQuery, EmptyMutation, EmptySubscription)
                    .data(Lookups { source: source.clone(), max_route_ids: 10 })
                    .finish();
                for (text, variable, literal) in &forms {
                    let with_variables = Request::new(text.clone())
                        .variables(Variables::from_json(serde_json::json!({ "v": variable })));
                    let executed =
                        serde_json::to_vec(&schema.execute(with_variables).await).expect("json");
                    let inline =
                        serde_json::to_vec(&schema.execute(Request::new(literal.clone())).await)
                            .expect("json");
                    assert_eq!(
                        String::from_utf8_lossy(&inline),
                        String::from_utf8_lossy(&executed),
                        "{literal}"
                    );
                    let doc = async_graphql::parser::parse_query(literal).expect("parses");
                    let plan = plan(&doc).unwrap_or_else(|| panic!("prepared: {literal}"));
                    let prepared = answer(&plan, &Request::new(literal.clone()), &*source, 10)
                        .await
                        .unwrap_or_else(|| panic!("answered: {literal}"));
                    assert_eq!(
                        String::from_utf8_lossy(&prepared),
                        String::from_utf8_lossy(&executed),
                        "{literal}"
                    );
                    let like = answer_like(literal, &Request::new(literal.clone()), &source).await;
                    assert_eq!(
                        String::from_utf8_lossy(&like),
                        String::from_utf8_lossy(&executed),
                        "{literal}"
                    );
                }
            });
        }
    }

    #[tokio::test]
    async fn the_field_table_is_the_schemas_route_type() {
        let schema = Schema::build(RouteQuery, EmptyMutation, EmptySubscription).finish();
        let answer = schema
            .execute(r#"{ __type(name: "Route") { fields { name } } }"#)
            .await
            .data
            .into_json()
            .expect("json");
        let in_schema: Vec<String> = answer["__type"]["fields"]
            .as_array()
            .expect("Route has fields")
            .iter()
            .map(|f| f["name"].as_str().expect("a name").to_owned())
            .collect();
        let in_table: Vec<String> = RouteField::ALL
            .iter()
            .map(|f| f.name().to_owned())
            .filter(|n| n != "__typename")
            .collect();
        assert_eq!(in_schema, in_table);
    }
}
