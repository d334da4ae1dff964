//! Permission rules that plugins declare with their routes (the RBAC model of seed 002,
//! vantage6's `Rule`: a resource, a scope and an operation).
//!
//! A plugin names, for each of its operations, the [`Rule`] a caller needs
//! ([`PluginBuilder::require`](crate::sdk::PluginBuilder::require)): the permission
//! travels with the route. The host gathers every plugin's [`Permissions`] (the root
//! module's `permissions` export, JSON) and publishes each operation's rule in its
//! `host.operations` event; the auth plugin bundles rules into roles and refuses a call
//! whose rule the caller's roles lack.
//!
//! A rule required at some scope is satisfied by the same resource and operation at a
//! wider scope (`global` ⊇ `group` ⊇ `own`), so a required rule brings its wider
//! variants into the catalogue ([`Permissions::catalogue`]).

use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Which rows a rule reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The caller's own rows and shared ones (the db plugin's ownership filter).
    Own,
    /// The rows of the caller's groups (see `docs/auth.md` for how groups map).
    Group,
    /// Every row (what administrators reach).
    Global,
}

/// What a rule lets the caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Read.
    View,
    /// Make new rows.
    Create,
    /// Change rows.
    Edit,
    /// Remove rows.
    Delete,
    /// Start something (an instance, a job).
    Start,
    /// Stop something.
    Stop,
}

impl Scope {
    /// Every scope, narrowest first.
    pub const ALL: [Scope; 3] = [Scope::Own, Scope::Group, Scope::Global];

    /// The name used in rule ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Own => "own",
            Scope::Group => "group",
            Scope::Global => "global",
        }
    }
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 6] =
        [Operation::View, Operation::Create, Operation::Edit, Operation::Delete, Operation::Start, Operation::Stop];

    /// The name used in rule ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::View => "view",
            Operation::Create => "create",
            Operation::Edit => "edit",
            Operation::Delete => "delete",
            Operation::Start => "start",
            Operation::Stop => "stop",
        }
    }
}

/// One permission: an operation on a resource in a scope. Its id reads
/// `<resource>:<scope>:<operation>` (`object:own:view`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// The resource (`object`, `user`, `role`), lower case.
    pub resource: String,
    /// Which rows.
    pub scope: Scope,
    /// What is done.
    pub operation: Operation,
}

impl Rule {
    /// A rule.
    pub fn new(resource: &str, scope: Scope, operation: Operation) -> Rule {
        Rule { resource: resource.to_string(), scope, operation }
    }

    /// The same operation on the caller's own rows.
    pub fn own(resource: &str, operation: Operation) -> Rule {
        Rule::new(resource, Scope::Own, operation)
    }

    /// The same operation on every row.
    pub fn global(resource: &str, operation: Operation) -> Rule {
        Rule::new(resource, Scope::Global, operation)
    }

    /// This rule at another scope.
    pub fn at(&self, scope: Scope) -> Rule {
        Rule { scope, ..self.clone() }
    }

    /// Whether holding `self` satisfies a requirement of `required`: the same resource
    /// and operation at the same or a wider scope.
    pub fn satisfies(&self, required: &Rule) -> bool {
        self.resource == required.resource && self.operation == required.operation && self.scope >= required.scope
    }

    /// This rule and its variants at every wider scope.
    pub fn widening(&self) -> impl Iterator<Item = Rule> + '_ {
        Scope::ALL.into_iter().filter(move |s| *s >= self.scope).map(move |s| self.at(s))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.resource, self.scope.as_str(), self.operation.as_str())
    }
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(s: &str) -> Result<Rule, String> {
        let bad = || format!("`{s}` is no rule id: write <resource>:<own|group|global>:<view|create|edit|delete|start|stop>");
        let mut parts = s.split(':');
        let (Some(resource), Some(scope), Some(operation), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let scope = Scope::ALL.into_iter().find(|x| x.as_str() == scope).ok_or_else(bad)?;
        let operation = Operation::ALL.into_iter().find(|x| x.as_str() == operation).ok_or_else(bad)?;
        if resource.is_empty() || !resource.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(bad());
        }
        Ok(Rule::new(resource, scope, operation))
    }
}

/// A rule of the catalogue, with what it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// The rule.
    #[serde(flatten)]
    pub rule: Rule,
    /// One line for administrators.
    #[serde(default)]
    pub description: String,
}

/// What a plugin declares: its rules and the rule each of its operations needs. It
/// crosses the boundary as JSON (the root module's `permissions` export).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// Rules declared on their own (with a description).
    #[serde(default)]
    pub rules: Vec<RuleInfo>,
    /// Operation id (as in the plugin's own document, browser and WebSocket routes) →
    /// the rule it needs.
    #[serde(default)]
    pub operations: BTreeMap<String, Rule>,
}

impl Permissions {
    /// Every rule of the plugin: those declared, and each required rule with its wider
    /// variants (a description is taken from a declaration of the same rule).
    pub fn catalogue(&self) -> Vec<RuleInfo> {
        let mut all: BTreeMap<Rule, String> = BTreeMap::new();
        for required in self.operations.values() {
            for rule in required.widening() {
                all.entry(rule).or_default();
            }
        }
        for info in &self.rules {
            all.insert(info.rule.clone(), info.description.clone());
        }
        all.into_iter().map(|(rule, description)| RuleInfo { rule, description }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_round_trip_and_wider_scopes_satisfy() {
        let r: Rule = "object:own:view".parse().unwrap();
        assert_eq!(r, Rule::own("object", Operation::View));
        assert_eq!(r.to_string(), "object:own:view");
        for bad in ["object:own", "object:mine:view", "object:own:look", "Object:own:view", ":own:view", "a:own:view:x"] {
            assert!(bad.parse::<Rule>().is_err(), "{bad}");
        }
        let global = r.at(Scope::Global);
        assert!(global.satisfies(&r) && r.satisfies(&r));
        assert!(!r.satisfies(&global));
        assert!(!Rule::own("object", Operation::Edit).satisfies(&r));
        assert!(!Rule::global("file", Operation::View).satisfies(&r));
    }

    #[test]
    fn the_catalogue_holds_required_rules_and_their_wider_variants() {
        let mut p = Permissions::default();
        p.operations.insert("list".into(), Rule::own("object", Operation::View));
        p.operations.insert("nodes".into(), Rule::global("node", Operation::View));
        p.rules.push(RuleInfo { rule: Rule::global("object", Operation::View), description: "every object".into() });
        let ids: Vec<String> = p.catalogue().iter().map(|r| r.rule.to_string()).collect();
        assert_eq!(ids, ["node:global:view", "object:own:view", "object:group:view", "object:global:view"]);
        assert_eq!(p.catalogue()[3].description, "every object");
    }
}
