//! Identities in a restore: groups and memberships from the run's snapshot are re-created when
//! missing; users are registered only when asked twice (`Register`), because registering a
//! user sends them an invitation. Planning reads the target; applying writes only what the plan says.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::RestoreError;
use super::plan::{IdentityAction, PlannedIdentity, RestoreTarget};
use crate::engine::Engine;
use crate::identities::{GroupRecord, UserRecord};
use crate::qs::{ErrorClass, QsError, paginate, retry, sdk};

/// What to do about users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UsersMode {
    /// Leave users alone (memberships of missing users are reported as blocked).
    #[default]
    Ignore,
    /// List the users that would be registered, register none.
    Plan,
    /// Register missing users of identity type QUICKSIGHT (each receives an invitation).
    Register,
}

/// How one identity change went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityOutcome {
    pub kind: String,
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

fn item(kind: &str, name: String, action: IdentityAction, reason: &str) -> PlannedIdentity {
    PlannedIdentity {
        kind: kind.into(),
        name,
        action,
        reason: reason.into(),
        description: None,
        email: None,
        role: None,
    }
}

impl Engine {
    /// Plans groups, users and memberships of `source_ns` in the run against the target.
    pub(crate) async fn plan_identities(
        &self,
        qs: &aws_sdk_quicksight::Client,
        run_id: &str,
        source_ns: &str,
        target: &RestoreTarget,
        users: UsersMode,
    ) -> Result<(Vec<PlannedIdentity>, Vec<String>), RestoreError> {
        let keys = self.scope.run(run_id);
        let groups: Option<Vec<GroupRecord>> = self
            .read_snapshot(&keys.identities(source_ns, "groups"))
            .await?;
        let users_saved: Vec<UserRecord> = self
            .read_snapshot(&keys.identities(source_ns, "users"))
            .await?
            .unwrap_or_default();
        let Some(groups) = groups else {
            return Ok((
                vec![],
                vec![format!(
                    "run {run_id} has no identity snapshot of namespace {source_ns}; identities are left alone"
                )],
            ));
        };
        let (acct, ns) = (target.account.as_str(), target.namespace.as_str());
        let listed = async {
            Ok::<_, QsError>(paginate!(
                self,
                "ListGroups",
                qs.list_groups().aws_account_id(acct).namespace(ns),
                group_list,
                |g| { g.group_name().map(str::to_string) }
            ))
        };
        let have_groups: BTreeSet<String> = match listed.await {
            Ok(g) => g.into_iter().collect(),
            Err(e) if e.class == ErrorClass::NotFound => {
                return Err(RestoreError::Invalid(format!(
                    "namespace {ns} does not exist in account {acct} ({}): create it first or choose another with --to-namespace",
                    target.identity_region
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let have_users: BTreeSet<String> = paginate!(
            self,
            "ListUsers",
            qs.list_users().aws_account_id(acct).namespace(ns),
            user_list,
            |u| { u.user_name().map(str::to_string) }
        )
        .into_iter()
        .collect();
        let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for g in groups
            .iter()
            .filter(|g| have_groups.contains(&g.group_name))
        {
            let list: Vec<String> = paginate!(
                self,
                "ListGroupMemberships",
                qs.list_group_memberships()
                    .aws_account_id(acct)
                    .namespace(ns)
                    .group_name(&g.group_name),
                group_member_list,
                |m| m.member_name().map(str::to_string)
            );
            members.insert(g.group_name.clone(), list.into_iter().collect());
        }
        let mut out = Vec::new();
        for g in &groups {
            let mut p = if have_groups.contains(&g.group_name) {
                item(
                    "group",
                    g.group_name.clone(),
                    IdentityAction::Skip,
                    "exists",
                )
            } else {
                item(
                    "group",
                    g.group_name.clone(),
                    IdentityAction::Create,
                    "missing in the target",
                )
            };
            p.description = g.description.clone();
            out.push(p);
        }
        let mut registered: BTreeSet<String> = have_users.clone();
        if users != UsersMode::Ignore {
            for u in &users_saved {
                let mut p = if have_users.contains(&u.user_name) {
                    item("user", u.user_name.clone(), IdentityAction::Skip, "exists")
                } else if u.identity_type.as_deref() != Some("QUICKSIGHT") {
                    item(
                        "user",
                        u.user_name.clone(),
                        IdentityAction::Blocked,
                        "not a QuickSight-managed user: IAM and IAM Identity Center users are created when they sign in",
                    )
                } else if users == UsersMode::Register {
                    registered.insert(u.user_name.clone());
                    item(
                        "user",
                        u.user_name.clone(),
                        IdentityAction::Create,
                        "missing in the target; registering sends an invitation",
                    )
                } else {
                    item(
                        "user",
                        u.user_name.clone(),
                        IdentityAction::Blocked,
                        "missing in the target; registering sends an invitation, confirm with --yes-register-users",
                    )
                };
                p.email = u.email.clone();
                p.role = u.role.clone();
                out.push(p);
            }
        }
        for g in &groups {
            for m in &g.members {
                let name = format!("{}/{m}", g.group_name);
                out.push(
                    if members.get(&g.group_name).is_some_and(|s| s.contains(m)) {
                        item("membership", name, IdentityAction::Skip, "exists")
                    } else if registered.contains(m) {
                        item(
                            "membership",
                            name,
                            IdentityAction::Create,
                            "missing in the target",
                        )
                    } else {
                        item(
                            "membership",
                            name,
                            IdentityAction::Blocked,
                            "the user does not exist in the target",
                        )
                    },
                );
            }
        }
        Ok((out, vec![]))
    }

    async fn read_snapshot<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, RestoreError> {
        match self.store.get(key).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| RestoreError::Integrity(format!("{key} is not readable: {e}"))),
        }
    }

    /// Applies the planned identity changes in order: groups, users, memberships.
    pub(crate) async fn apply_identities(
        &self,
        qs: &aws_sdk_quicksight::Client,
        target: &RestoreTarget,
        planned: &[PlannedIdentity],
    ) -> Vec<IdentityOutcome> {
        let (acct, ns) = (target.account.as_str(), target.namespace.as_str());
        let mut out = Vec::new();
        for kind in ["group", "user", "membership"] {
            for p in planned
                .iter()
                .filter(|p| p.kind == kind && p.action == IdentityAction::Create)
            {
                let r: Result<(), QsError> = match kind {
                    "group" => {
                        retry(
                            "CreateGroup",
                            &self.settings.retry,
                            &self.stats,
                            &[],
                            || {
                                let req = qs
                                    .create_group()
                                    .aws_account_id(acct)
                                    .namespace(ns)
                                    .group_name(&p.name)
                                    .set_description(p.description.clone());
                                async move { sdk("CreateGroup", req.send().await).map(|_| ()) }
                            },
                        )
                        .await
                    }
                    "user" => {
                        retry(
                            "RegisterUser",
                            &self.settings.retry,
                            &self.stats,
                            &[],
                            || {
                                let req = qs
                                    .register_user()
                                    .aws_account_id(acct)
                                    .namespace(ns)
                                    .identity_type(
                                        aws_sdk_quicksight::types::IdentityType::Quicksight,
                                    )
                                    .user_name(&p.name)
                                    .email(p.email.clone().unwrap_or_default())
                                    .user_role(aws_sdk_quicksight::types::UserRole::from(
                                        p.role.as_deref().unwrap_or("READER"),
                                    ));
                                async move { sdk("RegisterUser", req.send().await).map(|_| ()) }
                            },
                        )
                        .await
                    }
                    _ => {
                        let (group, member) =
                            p.name.split_once('/').unwrap_or((p.name.as_str(), ""));
                        retry("CreateGroupMembership", &self.settings.retry, &self.stats, &[], || {
                            let req = qs
                                .create_group_membership()
                                .aws_account_id(acct)
                                .namespace(ns)
                                .group_name(group)
                                .member_name(member);
                            async move { sdk("CreateGroupMembership", req.send().await).map(|_| ()) }
                        })
                        .await
                    }
                };
                let (ok, message) = match r {
                    Ok(()) => (true, String::new()),
                    Err(e) if e.code.as_deref() == Some("ResourceExistsException") => {
                        (true, "already existed".into())
                    }
                    Err(e) => (false, e.to_string()),
                };
                out.push(IdentityOutcome {
                    kind: kind.into(),
                    name: p.name.clone(),
                    ok,
                    message,
                });
            }
        }
        out
    }
}
