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
    BaseType, DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType,
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

impl Plan {
    /// This plan for another text of its shape, whose string literals are `literals` in the
    /// order written (`parsed::lift_literals`). The literals of a prepared lookup are its root's
    /// arguments and nothing else; `None` when they do not fit.
    pub fn with_literals(&self, mut literals: Vec<String>) -> Option<Plan> {
        let root = match &self.root {
            Root::ById(Arg::Literal(_)) if literals.len() == 1 => {
                Root::ById(Arg::Literal(literals.pop()?))
            }
            Root::ByHost(Arg::Literal(_)) if literals.len() == 1 => {
                Root::ByHost(Arg::Literal(literals.pop()?))
            }
            Root::Many(Arg::Literal(ids)) if ids.len() == literals.len() => {
                Root::Many(Arg::Literal(literals))
            }
            variable @ (Root::ById(Arg::Variable(_))
            | Root::ByHost(Arg::Variable(_))
            | Root::Many(Arg::Variable(_)))
                if literals.is_empty() =>
            {
                variable.clone()
            }
            _ => return None,
        };
        Some(Plan {
            root,
            ..self.clone()
        })
    }
}

fn is_named(ty: &Type, name: &str) -> bool {
    matches!(&ty.base, BaseType::Named(n) if n.as_str() == name)
}

/// The plan of `doc`, if it is a single `route` or `routes` lookup of scalar fields.
pub fn plan(doc: &ExecutableDocument) -> Option<Plan> {
    let (operation, op, root) = single_root(doc)?;
    let key = response_key(root);
    let mut vars = Variables {
        op,
        used: HashSet::new(),
    };
    let root_plan = root_of(root, &mut vars)?;
    // Every variable is declared once and used.
    let mut names = HashSet::new();
    for def in &op.variable_definitions {
        let name = def.node.name.node.as_str();
        if !names.insert(name) || !vars.used.contains(name) {
            return None;
        }
    }
    Some(Plan {
        operation,
        key,
        root: root_plan,
        fields: scalar_fields(root)?,
    })
}

/// The one query operation of `doc` (with its name when the document names it) and its one
/// root field, none of them with directives, and no fragments.
fn single_root(doc: &ExecutableDocument) -> Option<(Option<String>, &OperationDefinition, &Field)> {
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
    root.directives.is_empty().then_some((operation, op, root))
}

/// A field's key in the response: its alias, or its name.
fn response_key(field: &Field) -> String {
    field
        .alias
        .as_ref()
        .map_or_else(|| field.name.node.to_string(), |a| a.node.to_string())
}

/// The operation's variables, and those its root's arguments use.
struct Variables<'a> {
    op: &'a OperationDefinition,
    used: HashSet<String>,
}

impl Variables<'_> {
    /// Variable `name`, declared with exactly the type its argument takes (`is_type`), without
    /// a default or directives; marked used.
    fn typed(&mut self, name: &str, is_type: impl Fn(&Type) -> bool) -> Option<String> {
        let def = &self
            .op
            .variable_definitions
            .iter()
            .find(|v| v.node.name.node.as_str() == name)?
            .node;
        let fits =
            is_type(&def.var_type.node) && def.default_value.is_none() && def.directives.is_empty();
        fits.then(|| {
            self.used.insert(name.to_owned());
            name.to_owned()
        })
    }

    /// A string argument of GraphQL type `type_name`: a literal or a variable of that type.
    fn string_arg(&mut self, value: &Value, type_name: &str) -> Option<Arg<String>> {
        match value {
            Value::String(s) => Some(Arg::Literal(s.clone())),
            Value::Variable(name) => self
                .typed(name.as_str(), |ty| is_named(ty, type_name))
                .map(Arg::Variable),
            _ => None,
        }
    }
}

/// What the root field looks up: `route(tenantId:)`, `route(host:)` or `routes(tenantIds:)`.
fn root_of(root: &Field, vars: &mut Variables<'_>) -> Option<Root> {
    match (root.name.node.as_str(), root.arguments.as_slice()) {
        ("route", [(name, value)]) => match name.node.as_str() {
            "tenantId" => Some(Root::ById(vars.string_arg(&value.node, "ID")?)),
            "host" => Some(Root::ByHost(vars.string_arg(&value.node, "String")?)),
            _ => None,
        },
        ("routes", [(name, value)]) if name.node.as_str() == "tenantIds" => match &value.node {
            Value::List(items) => Some(Root::Many(Arg::Literal(
                items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect::<Option<_>>()?,
            ))),
            // Exactly `[ID!]!`, the argument's own type.
            Value::Variable(name) => vars
                .typed(name.as_str(), |ty| {
                    !ty.nullable
                        && matches!(&ty.base, BaseType::List(inner) if !inner.nullable && is_named(inner, "ID"))
                })
                .map(|v| Root::Many(Arg::Variable(v))),
            _ => None,
        },
        _ => None,
    }
}

/// The root's selection: plain fields of `Route` only, each response key once.
fn scalar_fields(root: &Field) -> Option<Vec<(String, RouteField)>> {
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
        let key = response_key(f);
        if !keys.insert(key.clone()) {
            return None;
        }
        fields.push((key, field));
    }
    (!fields.is_empty()).then_some(fields)
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
    if !lookups.answering() {
        return None;
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
