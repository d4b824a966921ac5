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
