//! Prepared lookups: the query texts services send on their hot path, answered without the
//! GraphQL executor.
//!
//! Almost every lookup is one `route` or `routes` field with scalar fields under it, its
//! argument a variable or a literal. For such a document (judged once per text, when it is
//! parsed and kept) [`plan`] makes a [`Plan`], and [`answer`] resolves it straight from the
//! route source (the router or a replica, `super::lookup`) and writes the JSON itself. The answer is byte for byte what the executor
//! would write for the same request (a test compares them); anything the plan is not sure of
//! (a null or non-string variable, a bad id or host, an unknown operation name, a storage
//! error, a replica that is not ready) returns `None`, and the request goes to the executor,
//! which answers it, errors included, as before. The cost model has judged the request first
//! either way.

use super::lookup::{RouteSource, parse_host, parse_id};
use super::types::RouteField;
use crate::domain::TenantId;
use crate::snapshot::Route;
use async_graphql::Request;
use async_graphql::Value as ConstValue;
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
    Selection, Type,
};
use async_graphql_value::Value;
use std::collections::HashSet;

/// An argument: a literal, or the name of a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg<T> {
    Literal(T),
    Variable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Root {
    ById(Arg<String>),
    ByHost(Arg<String>),
    Many(Arg<Vec<String>>),
}

/// A lookup document, ready to answer without the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The operation's name, for a document of one named operation.
    operation: Option<String>,
    /// The root field's response key (its alias, or its name).
    key: String,
    root: Root,
    fields: Vec<(String, RouteField)>,
}

fn is_named(ty: &Type, name: &str) -> bool {
    matches!(&ty.base, BaseType::Named(n) if n.as_str() == name)
}

/// The plan of `doc`, if it is a single `route` or `routes` lookup of scalar fields.
pub fn plan(doc: &ExecutableDocument) -> Option<Plan> {
    if !doc.fragments.is_empty() {
        return None;
    }
    let (operation, op): (Option<String>, &OperationDefinition) = match &doc.operations {
        DocumentOperations::Single(op) => (None, &op.node),
        DocumentOperations::Multiple(ops) if ops.len() == 1 => {
            let (name, op) = ops.iter().next()?;
            (Some(name.to_string()), &op.node)
        }
        DocumentOperations::Multiple(_) => return None,
    };
    if op.ty != OperationType::Query || !op.directives.is_empty() {
        return None;
    }
    let [item] = op.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(root) = &item.node else {
        return None;
    };
    let root = &root.node;
    if !root.directives.is_empty() {
        return None;
    }
    let key = root
        .alias
        .as_ref()
        .map_or_else(|| root.name.node.to_string(), |a| a.node.to_string());
    // Every variable is declared once, without a default or directives, with the one type
    // the argument it feeds takes; every declared variable is used.
    let declared = |name: &str| {
        op.variable_definitions
            .iter()
            .find(|v| v.node.name.node.as_str() == name)
    };
    let mut used = HashSet::new();
    let mut string_arg = |value: &Value, type_name: &str| -> Option<Arg<String>> {
        match value {
            Value::String(s) => Some(Arg::Literal(s.clone())),
            Value::Variable(name) => {
                let def = &declared(name.as_str())?.node;
                let ty = &def.var_type.node;
                (is_named(ty, type_name)
                    && def.default_value.is_none()
                    && def.directives.is_empty())
                .then(|| {
                    used.insert(name.to_string());
                    Arg::Variable(name.to_string())
                })
            }
            _ => None,
        }
    };
    let args = &root.arguments;
    let plan_root = match (root.name.node.as_str(), args.as_slice()) {
        ("route", [(name, value)]) => match name.node.as_str() {
            "tenantId" => Root::ById(string_arg(&value.node, "ID")?),
            "host" => Root::ByHost(string_arg(&value.node, "String")?),
            _ => return None,
        },
        ("routes", [(name, value)]) if name.node.as_str() == "tenantIds" => match &value.node {
            Value::List(items) => Root::Many(Arg::Literal(
                items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect::<Option<_>>()?,
            )),
            Value::Variable(name) => {
                let def = &declared(name.as_str())?.node;
                let ty = &def.var_type.node;
                // Exactly `[ID!]!`, the argument's own type.
                let list_of_ids = !ty.nullable
                    && matches!(&ty.base, BaseType::List(inner) if !inner.nullable && is_named(inner, "ID"));
                if !list_of_ids || def.default_value.is_some() || !def.directives.is_empty() {
                    return None;
                }
                used.insert(name.to_string());
                Root::Many(Arg::Variable(name.to_string()))
            }
            _ => return None,
        },
        _ => return None,
    };
    let mut names = HashSet::new();
    for def in &op.variable_definitions {
        let name = def.node.name.node.as_str();
        if !names.insert(name) || !used.contains(name) {
            return None;
        }
    }
    let mut fields = Vec::new();
    let mut keys = HashSet::new();
    for item in &root.selection_set.node.items {
        let Selection::Field(f) = &item.node else {
            return None;
        };
        let f = &f.node;
        if !f.arguments.is_empty()
            || !f.directives.is_empty()
            || !f.selection_set.node.items.is_empty()
        {
            return None;
        }
        let field = RouteField::named(f.name.node.as_str())?;
        let key = f
            .alias
            .as_ref()
            .map_or_else(|| f.name.node.to_string(), |a| a.node.to_string());
        if !keys.insert(key.clone()) {
            return None;
        }
        fields.push((key, field));
    }
    if fields.is_empty() {
        return None;
    }
    Some(Plan {
        operation,
        key,
        root: plan_root,
        fields,
    })
}

fn string_value<'a>(arg: &'a Arg<String>, request: &'a Request) -> Option<&'a str> {
    match arg {
        Arg::Literal(s) => Some(s),
        Arg::Variable(name) => match request.variables.get(name.as_str())? {
            ConstValue::String(s) => Some(s),
            _ => None,
        },
    }
}

/// The answer to `request` by `plan`, as the executor would write it; `None` when the
/// executor must answer.
pub async fn answer(
    plan: &Plan,
    request: &Request,
    lookups: &dyn RouteSource,
    max_route_ids: usize,
) -> Option<Vec<u8>> {
    match (&request.operation_name, &plan.operation) {
        (None, _) => {}
        (Some(asked), Some(ours)) if asked == ours => {}
        _ => return None,
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"data\":{\"");
    out.extend_from_slice(plan.key.as_bytes());
    out.extend_from_slice(b"\":");
    match &plan.root {
        Root::ById(arg) => {
            let id = parse_id(string_value(arg, request)?, "tenantId").ok()?;
            let route = lookups
                .routes(std::slice::from_ref(&id))
                .await
                .ok()?
                .pop()?;
            write_route(&mut out, route.as_ref(), &plan.fields);
        }
        Root::ByHost(arg) => {
            let site = parse_host(lookups.base_domain().ok()?, string_value(arg, request)?).ok()?;
            let route = lookups.route_by_site(&site).await.ok()?;
            write_route(&mut out, route.as_ref(), &plan.fields);
        }
        Root::Many(arg) => {
            let ids: Vec<TenantId> = match arg {
                Arg::Literal(ids) => ids
                    .iter()
                    .map(|s| parse_id(s, "every tenantId").ok())
                    .collect::<Option<_>>()?,
                Arg::Variable(name) => match request.variables.get(name.as_str())? {
                    ConstValue::List(items) => items
                        .iter()
                        .map(|v| match v {
                            ConstValue::String(s) => parse_id(s, "every tenantId").ok(),
                            _ => None,
                        })
                        .collect::<Option<_>>()?,
                    _ => return None,
                },
            };
            if ids.len() > max_route_ids {
                return None;
            }
            let routes = lookups.routes(&ids).await.ok()?;
            out.push(b'[');
            for (n, route) in routes.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_route(&mut out, route.as_ref(), &plan.fields);
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b"}}");
    Some(out)
}

fn write_route(out: &mut Vec<u8>, route: Option<&Route>, fields: &[(String, RouteField)]) {
    let Some(route) = route else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'{');
    for (n, (key, field)) in fields.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        field.write_json(route, out);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests;
