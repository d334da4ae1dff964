//! The privilege system of seed 000 §3.3.4–3.3.5: the evaluation engine, pure (no I/O
//! of its own), so that every scenario of the seed is a unit test.
//!
//! # Privilege ids
//!
//! Every route has one privilege id: **its operation id in the merged OpenAPI document**
//! (`<plugin>_<operation>`, `host_<operation>` for the host's routes), exactly as the
//! host hands it to layers in `LayerRequest::operation_id` — see [`privilege_id`]. The
//! seed numbered its 71 methods; a name is as unique as a number, survives routes being
//! added or removed (a number taken from a position would not), and reads in an
//! accept list. It is stable as long as the plugin keeps the route's `operation_id`
//! (every plugin names its operations explicitly) and its own name. `GET
//! /api/v1/auth/privileges` lists the ids of the running server.
//!
//! # Rules
//!
//! A user, and each group, carries an accept list and a deny list ([`Rules`]). A group is
//! either *static* (changes rarely; the auth plugin caches all static groups' lists) or
//! not (its lists are fetched for each verification). Evaluation goes from the top down
//! and the first level with a rule for the privilege decides ([`evaluate`]):
//!
//! | level | rules | cost |
//! |---|---|---|
//! | 1.1 / 1.2 | the user's accept / deny list | the one user request |
//! | 2.1 / 2.2 | every static group's accept / deny lists, together | 0 (cached) |
//! | 3.1 / 3.2 | every non-static group's accept / deny lists, together | 1 request per group fetched |
//! | none | no list names the privilege | denied |
//!
//! Within one level **deny wins over accept** ("Users might have access or deny
//! privileges at once (Deny over Accept)", and the same for groups): a user with the
//! privilege on both lists is denied at 1.2, a static accept in one group and a static
//! deny in another deny at 2.2. That is also why level 3 can stop early on a deny only:
//! an accept from one non-static group is final only once every other non-static group
//! has been fetched without a deny (the seed's worst case "User3 is denied by non-static
//! group privilege (Deny over Accept)" relies on it). A decision at level 1 or 2 — a
//! static deny in particular — fetches no non-static group at all.
//!
//! A verification thus costs 1 request when the user or a static group decides, and at
//! most 1 + n for n non-static group memberships ([`Decision::requests`]).

use std::{collections::HashSet, fmt, future::Future};

/// The privilege id of a route: its merged operation id, unchanged. One function so that
/// the rule lives in one place (the layer, the listing and the admin API use it).
pub fn privilege_id(operation_id: &str) -> &str {
    operation_id
}

/// An accept list and a deny list of privilege ids (a user's or a group's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Privileges granted.
    pub accept: HashSet<String>,
    /// Privileges refused.
    pub deny: HashSet<String>,
}

impl Rules {
    /// Lists from ids.
    pub fn new<A: IntoIterator<Item = S>, D: IntoIterator<Item = S>, S: Into<String>>(accept: A, deny: D) -> Rules {
        Rules { accept: accept.into_iter().map(Into::into).collect(), deny: deny.into_iter().map(Into::into).collect() }
    }
}

/// The level that decided, numbered as in the seed's precedence list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// 1.1: the user's accept list.
    UserAccept,
    /// 1.2: the user's deny list.
    UserDeny,
    /// 2.1: a static group's accept list.
    StaticGroupAccept,
    /// 2.2: a static group's deny list.
    StaticGroupDeny,
    /// 3.1: a non-static group's accept list.
    GroupAccept,
    /// 3.2: a non-static group's deny list.
    GroupDeny,
    /// No list names the privilege: denied.
    NoRule,
}

impl Level {
    /// The seed's number (`1.1` … `3.2`), `none` when no rule decided.
    pub fn number(self) -> &'static str {
        match self {
            Level::UserAccept => "1.1",
            Level::UserDeny => "1.2",
            Level::StaticGroupAccept => "2.1",
            Level::StaticGroupDeny => "2.2",
            Level::GroupAccept => "3.1",
            Level::GroupDeny => "3.2",
            Level::NoRule => "none",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Level::UserAccept => "user accept",
            Level::UserDeny => "user deny",
            Level::StaticGroupAccept => "static group accept",
            Level::StaticGroupDeny => "static group deny",
            Level::GroupAccept => "group accept",
            Level::GroupDeny => "group deny",
            Level::NoRule => "no rule",
        };
        write!(f, "{} ({what})", self.number())
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the privilege is granted.
    pub allowed: bool,
    /// Which level decided.
    pub level: Level,
    /// Requests the verification cost in the seed's terms: 1 for the user, plus 1 per
    /// non-static group fetched (static groups are cached and cost nothing).
    pub requests: u32,
}

impl Decision {
    fn at(level: Level, requests: u32) -> Decision {
        let allowed = matches!(level, Level::UserAccept | Level::StaticGroupAccept | Level::GroupAccept);
        Decision { allowed, level, requests }
    }
}

/// Decide whether `privilege` is granted.
///
/// - `user`: the user's lists, which the caller fetched with the one user request (and
///   with them the user's group memberships);
/// - `static_groups`: the lists of the user's static groups, from the cache;
/// - `non_static`: the user's non-static groups, in the order to fetch them;
/// - `fetch`: fetches one non-static group's lists; called at most once per group, only
///   when levels 1 and 2 did not decide, and no more after a deny.
///
/// A failed fetch ends the evaluation with that error: an unknown answer must not turn
/// into a grant, nor into a silent deny.
pub async fn evaluate<'a, G, F, Fut, E>(
    privilege: &str,
    user: &Rules,
    static_groups: impl IntoIterator<Item = &'a Rules>,
    non_static: impl IntoIterator<Item = G>,
    mut fetch: F,
) -> Result<Decision, E>
where
    F: FnMut(G) -> Fut,
    Fut: Future<Output = Result<Rules, E>>,
{
    let requests = 1;
    if user.deny.contains(privilege) {
        return Ok(Decision::at(Level::UserDeny, requests));
    }
    if user.accept.contains(privilege) {
        return Ok(Decision::at(Level::UserAccept, requests));
    }

    let mut static_accept = false;
    for rules in static_groups {
        if rules.deny.contains(privilege) {
            return Ok(Decision::at(Level::StaticGroupDeny, requests));
        }
        static_accept |= rules.accept.contains(privilege);
    }
    if static_accept {
        return Ok(Decision::at(Level::StaticGroupAccept, requests));
    }

    let (mut requests, mut accept) = (requests, false);
    for group in non_static {
        let rules = fetch(group).await?;
        requests += 1;
        if rules.deny.contains(privilege) {
            return Ok(Decision::at(Level::GroupDeny, requests));
        }
        accept |= rules.accept.contains(privilege);
    }
    Ok(Decision::at(if accept { Level::GroupAccept } else { Level::NoRule }, requests))
}

#[cfg(test)]
mod tests {
    //! One test per scenario of seed 000 §3.3.5 ("Best Case Scenarios", "Worst Case
    //! Scenarios"), each asserting the decision, the level and the cost; then the edges.

    use std::{cell::Cell, collections::HashMap};

    use futures::executor::block_on;

    use super::*;

    const P: &str = "db_list_objects";

    /// A user's situation: their lists, their static groups' lists, their non-static
    /// groups (id → lists, fetched on demand and counted).
    struct Case {
        user: Rules,
        statics: Vec<Rules>,
        groups: Vec<(i64, Rules)>,
    }

    impl Case {
        fn new(user: Rules) -> Case {
            Case { user, statics: Vec::new(), groups: Vec::new() }
        }
        fn static_group(mut self, rules: Rules) -> Case {
            self.statics.push(rules);
            self
        }
        fn group(mut self, rules: Rules) -> Case {
            self.groups.push((self.groups.len() as i64 + 100, rules));
            self
        }
        /// The decision and how many non-static groups were actually fetched.
        fn run(&self) -> (Decision, u32) {
            let store: HashMap<i64, Rules> = self.groups.iter().cloned().collect();
            let fetched = Cell::new(0u32);
            let decision = block_on(evaluate(P, &self.user, &self.statics, self.groups.iter().map(|(id, _)| *id), |id| {
                fetched.set(fetched.get() + 1);
                let rules = store.get(&id).cloned().ok_or("unknown group");
                async move { rules }
            }))
            .unwrap();
            assert_eq!(decision.requests, 1 + fetched.get(), "the cost is the user request plus the fetches");
            (decision, fetched.get())
        }
    }

    fn accept() -> Rules {
        Rules::new([P], [])
    }
    fn deny() -> Rules {
        Rules::new([], [P])
    }
    fn other() -> Rules {
        Rules::new(["db_get_object"], ["db_delete_object"])
    }
    fn none() -> Rules {
        Rules::default()
    }

    fn assert_decision(case: &Case, allowed: bool, level: Level, requests: u32) {
        let (d, _) = case.run();
        assert_eq!((d.allowed, d.level, d.requests), (allowed, level, requests), "{d:?}");
    }

    // ---- best case scenarios: one request each -------------------------------------

    #[test]
    fn best_case_user1_is_accepted_by_user_privilege() {
        let case = Case::new(accept()).static_group(other()).group(none()).group(other());
        assert_decision(&case, true, Level::UserAccept, 1);
    }

    #[test]
    fn best_case_user2_is_accepted_by_user_privilege_over_group() {
        let case = Case::new(accept()).static_group(deny()).group(deny());
        assert_decision(&case, true, Level::UserAccept, 1);
    }

    #[test]
    fn best_case_user3_is_denied_by_user_privilege_over_group() {
        let case = Case::new(deny()).static_group(accept()).group(accept());
        assert_decision(&case, false, Level::UserDeny, 1);
    }

    #[test]
    fn best_case_user4_is_denied_by_static_group_privilege() {
        let case = Case::new(other()).static_group(deny()).group(accept());
        assert_decision(&case, false, Level::StaticGroupDeny, 1);
    }

    // ---- worst case scenarios: 1 + n requests for n non-static groups --------------

    #[test]
    fn worst_case_user1_is_accepted_by_non_static_group_privilege() {
        let case = Case::new(none()).static_group(other()).group(none()).group(accept()).group(other());
        let (d, fetched) = case.run();
        assert_eq!((d.allowed, d.level, d.requests, fetched), (true, Level::GroupAccept, 1 + 3, 3), "{d:?}");
    }

    #[test]
    fn worst_case_user2_is_denied_by_non_static_group_privilege() {
        let case = Case::new(none()).static_group(other()).group(other()).group(none()).group(deny());
        let (d, fetched) = case.run();
        assert_eq!((d.allowed, d.level, d.requests, fetched), (false, Level::GroupDeny, 1 + 3, 3), "{d:?}");
    }

    #[test]
    fn worst_case_user3_is_denied_by_non_static_group_privilege_deny_over_accept() {
        // The accepting group comes first: it does not decide, the later deny does.
        let case = Case::new(none()).static_group(none()).group(accept()).group(other()).group(deny());
        let (d, fetched) = case.run();
        assert_eq!((d.allowed, d.level, d.requests, fetched), (false, Level::GroupDeny, 1 + 3, 3), "{d:?}");
    }

    #[test]
    fn worst_case_user4_is_denied_by_static_group_privilege_no_worst_case() {
        // Three non-static groups that would accept are never fetched: a static deny
        // decides before them.
        let case = Case::new(none()).static_group(accept()).static_group(deny()).group(accept()).group(accept()).group(accept());
        let (d, fetched) = case.run();
        assert_eq!((d.allowed, d.level, d.requests, fetched), (false, Level::StaticGroupDeny, 1, 0), "{d:?}");
    }

    // ---- edges ---------------------------------------------------------------------

    #[test]
    fn deny_wins_over_accept_on_the_same_user() {
        assert_decision(&Case::new(Rules::new([P], [P])).static_group(accept()), false, Level::UserDeny, 1);
    }

    #[test]
    fn a_static_accept_decides_without_fetching_non_static_groups() {
        let case = Case::new(none()).static_group(accept()).group(deny());
        assert_decision(&case, true, Level::StaticGroupAccept, 1);
    }

    #[test]
    fn a_non_static_deny_stops_the_fetching() {
        let case = Case::new(none()).group(deny()).group(accept()).group(accept());
        let (d, fetched) = case.run();
        assert_eq!((d.allowed, d.level, d.requests, fetched), (false, Level::GroupDeny, 2, 1), "{d:?}");
    }

    #[test]
    fn no_rule_means_denied_after_every_group() {
        assert_decision(&Case::new(other()).static_group(other()).group(other()).group(none()), false, Level::NoRule, 3);
        assert_decision(&Case::new(none()), false, Level::NoRule, 1);
    }

    #[test]
    fn a_failed_fetch_is_an_error_not_a_decision() {
        let r = block_on(evaluate(P, &none(), [], [1, 2], |id| async move {
            if id == 1 {
                Ok(none())
            } else {
                Err("unreachable")
            }
        }));
        assert_eq!(r, Err("unreachable"));
    }

    #[test]
    fn levels_carry_the_seed_numbers() {
        assert_eq!(Level::StaticGroupDeny.to_string(), "2.2 (static group deny)");
        assert_eq!(Level::NoRule.number(), "none");
        assert_eq!(privilege_id("db_list_objects"), "db_list_objects");
    }
}
