use super::*;
use async_graphql::parser::parse_query;

fn tally(query: &str, variables: serde_json::Value) -> Result<Tally, Refusal> {
    let doc = parse_query(query).expect("the test query parses");
    let variables = Variables::from_json(variables);
    check(&doc, &variables, &Limits::with_max_ids(100))
}

/// A fragment that spreads the next one twice, `levels` deep.
fn bomb(levels: usize) -> String {
    let mut q = String::from("query { ...f0 }\n");
    for i in 0..levels {
        q.push_str(&format!(
            "fragment f{i} on Query {{ ...f{n} ...f{n} }}\n",
            n = i + 1
        ));
    }
    q.push_str(&format!(
        "fragment f{levels} on Query {{ shards {{ id }} }}\n"
    ));
    q
}

#[test]
fn a_fragment_bomb_is_refused_without_being_expanded() {
    // 2^40 selections if expanded: the walk would never end. It is too large and too deep;
    // which is found first depends on the order fragments are visited in.
    let refused = tally(&bomb(40), serde_json::json!({})).unwrap_err();
    assert_eq!(refused.code(), "QUERY_TOO_LARGE", "{refused}");
    assert_eq!(
        tally(&bomb(25), serde_json::json!({})),
        Err(Refusal::TooLarge { limit: MAX_FIELDS })
    );
}

#[test]
fn a_fragment_spread_several_times_counts_every_time() {
    let ok = tally(&bomb(3), serde_json::json!({})).unwrap();
    // 8 copies of `shards { id }`.
    assert_eq!(ok.fields, 16);
    assert_eq!(ok.top, 8);
}

#[test]
fn a_fragment_cycle_is_refused_rather_than_followed() {
    let q = "query { ...a } fragment a on Query { ...b } fragment b on Query { ...a }";
    assert!(matches!(
        tally(q, serde_json::json!({})),
        Err(Refusal::FragmentCycle(_))
    ));
}

#[test]
fn every_field_costs_at_least_one_typename_included() {
    let t = tally("{ __typename a: __typename }", serde_json::json!({})).unwrap();
    assert_eq!(t.cost, 2);
}

#[test]
fn pages_of_tenants_cost_by_their_size() {
    let t = tally(
        "{ tenants(first: 50) { edges { node { id site } } } }",
        serde_json::json!({}),
    )
    .unwrap();
    // 1 + 50, then 50 times (edges, node, id, site).
    assert_eq!(t.cost, 51 + 50 * 4);
    let default = tally(
        "{ tenants { edges { node { id } } } }",
        serde_json::json!({}),
    )
    .unwrap();
    assert_eq!(default.cost, 21 + 20 * 3);
    let costly = "{ a: tenants(first: 100) { edges { node { id history { eventId } } } } \
                    b: tenants(first: 100) { edges { node { id history { eventId } } } } }";
    assert!(matches!(
        tally(costly, serde_json::json!({})),
        Err(Refusal::TooCostly { .. })
    ));
}

#[test]
fn ids_are_counted_over_the_whole_request_variables_included() {
    let ids: Vec<String> = (0..60).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let q = "query($ids: [ID!]!) { a: routes(tenantIds: $ids) { host } \
                                  b: routes(tenantIds: $ids) { host } }";
    assert_eq!(
        tally(q, serde_json::json!({ "ids": ids })),
        Err(Refusal::TooManyIds {
            ids: 120,
            limit: 100
        })
    );
    let one = "query($ids: [ID!]!) { routes(tenantIds: $ids) { host } }";
    assert_eq!(
        tally(one, serde_json::json!({ "ids": ids })).unwrap().ids,
        60
    );
}

#[test]
fn aliases_of_root_fields_are_counted() {
    let mut q = String::from("{");
    for i in 0..21 {
        q.push_str(&format!(
            " r{i}: route(host: \"a{i}.example.net\") {{ shard }}"
        ));
    }
    q.push('}');
    assert_eq!(
        tally(&q, serde_json::json!({})),
        Err(Refusal::TooManyRootFields {
            fields: 21,
            limit: MAX_ROOT_FIELDS
        })
    );
}

#[test]
fn the_introspection_query_of_graphiql_fits() {
    let t = tally(INTROSPECTION, serde_json::json!({})).unwrap();
    assert!(t.fields < MAX_FIELDS, "{t:?}");
}

/// The introspection query GraphiQL sends, as graphql-js spells it.
const INTROSPECTION: &str = r#"
  query IntrospectionQuery {
    __schema {
      queryType { name } mutationType { name } subscriptionType { name }
      types { ...FullType }
      directives { name description locations args { ...InputValue } }
    }
  }
  fragment FullType on __Type {
    kind name description
    fields(includeDeprecated: true) {
      name description args { ...InputValue } type { ...TypeRef }
      isDeprecated deprecationReason
    }
    inputFields { ...InputValue }
    interfaces { ...TypeRef }
    enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
    possibleTypes { ...TypeRef }
  }
  fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
  fragment TypeRef on __Type {
    kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name
      ofType { kind name ofType { kind name ofType { kind name } } } } } } }
  }"#;
