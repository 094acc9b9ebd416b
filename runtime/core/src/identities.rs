//! The identity snapshot: users, groups and memberships of every namespace in scope (read in the
//! identity Region), account settings and customization. Written as JSON files in the run folder
//! and, when a table is configured, as items of one partition per run (TTL set, no sets at all,
//! so an empty group never becomes an empty string set).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::StepError;
use crate::catalog::{attr_n, attr_s};
use crate::engine::{Engine, Event};
use crate::qs::{QsError, paginate, retry, sdk};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub user_name: String,
    pub arn: String,
    pub email: Option<String>,
    pub role: Option<String>,
    pub identity_type: Option<String>,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    pub group_name: String,
    pub arn: String,
    pub description: Option<String>,
    pub members: Vec<String>,
}

/// What the identities step did (`state/identities.json`, also its step output).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitiesSummary {
    pub run_id: String,
    pub namespaces: usize,
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
}

impl Engine {
    /// Snapshots identities and account settings for `run_id`.
    pub async fn snapshot_identities(&self, run_id: &str) -> Result<IdentitiesSummary, StepError> {
        let keys = self.scope.run(run_id);
        let mut summary = IdentitiesSummary {
            run_id: run_id.to_string(),
            ..Default::default()
        };
        let qs = &self.qs_identity;
        let acct = self.scope.account.as_str();
        let wanted = self.policy.identity_namespaces().clone();
        let namespaces: Vec<String> = paginate!(
            self,
            "ListNamespaces",
            qs.list_namespaces().aws_account_id(acct),
            namespaces,
            |n| {
                n.name()
                    .filter(|name| wanted.includes(name))
                    .map(str::to_string)
            }
        );
        let mut items = Vec::new();
        for ns in &namespaces {
            let users: Vec<UserRecord> = paginate!(
                self,
                "ListUsers",
                qs.list_users().aws_account_id(acct).namespace(ns),
                user_list,
                |u| {
                    u.user_name().map(|name| UserRecord {
                        user_name: name.to_string(),
                        arn: u.arn().unwrap_or_default().to_string(),
                        email: u.email().map(str::to_string),
                        role: u.role().map(|r| r.as_str().to_string()),
                        identity_type: u.identity_type().map(|r| r.as_str().to_string()),
                        active: u.active(),
                    })
                }
            );
            let groups: Vec<(String, String, Option<String>)> = paginate!(
                self,
                "ListGroups",
                qs.list_groups().aws_account_id(acct).namespace(ns),
                group_list,
                |g| {
                    g.group_name().map(|n| {
                        (
                            n.to_string(),
                            g.arn().unwrap_or_default().to_string(),
                            g.description().map(str::to_string),
                        )
                    })
                }
            );
            let groups: Vec<GroupRecord> = futures::stream::iter(groups)
                .map(|(name, arn, description)| async move {
                    let members: Vec<String> = paginate!(
                        self,
                        "ListGroupMemberships",
                        qs.list_group_memberships()
                            .aws_account_id(acct)
                            .namespace(ns)
                            .group_name(&name),
                        group_member_list,
                        |m| m.member_name().map(str::to_string)
                    );
                    Ok::<_, QsError>(GroupRecord {
                        group_name: name,
                        arn,
                        description,
                        members,
                    })
                })
                .buffered(8)
                .try_collect()
                .await?;
            summary.users += users.len();
            summary.groups += groups.len();
            summary.memberships += groups.iter().map(|g| g.members.len()).sum::<usize>();
            let memberships: Vec<serde_json::Value> = groups
                .iter()
                .flat_map(|g| {
                    g.members
                        .iter()
                        .map(|m| serde_json::json!({"groupName": g.group_name, "memberName": m}))
                })
                .collect();
            self.put_json(&keys.identities(ns, "users"), &users).await?;
            self.put_json(&keys.identities(ns, "groups"), &groups)
                .await?;
            self.put_json(&keys.identities(ns, "memberships"), &memberships)
                .await?;
            items.extend(identity_items(ns, &users, &groups));
        }
        summary.namespaces = namespaces.len();
        if self.policy.account_settings {
            self.snapshot_account(run_id).await?;
        }
        self.write_identity_items(run_id, items).await?;
        self.put_json(&keys.identities_summary(), &summary).await?;
        self.emit(Event::Identities {
            users: summary.users,
            groups: summary.groups,
        });
        Ok(summary)
    }

    async fn snapshot_account(&self, run_id: &str) -> Result<(), StepError> {
        let keys = self.scope.run(run_id);
        let acct = self.scope.account.as_str();
        let settings = retry(
            "DescribeAccountSettings",
            &self.settings.retry,
            &self.stats,
            &[],
            || async {
                sdk(
                    "DescribeAccountSettings",
                    self.qs_identity
                        .describe_account_settings()
                        .aws_account_id(acct)
                        .send()
                        .await,
                )
            },
        )
        .await?;
        let s = settings.account_settings();
        let settings = serde_json::json!({
            "accountName": s.and_then(|s| s.account_name()),
            "edition": s.and_then(|s| s.edition()).map(|e| e.as_str()),
            "defaultNamespace": s.and_then(|s| s.default_namespace()),
            "notificationEmail": s.and_then(|s| s.notification_email()),
            "publicSharingEnabled": s.map(|s| s.public_sharing_enabled()),
            "terminationProtectionEnabled": s.map(|s| s.termination_protection_enabled()),
        });
        self.put_json(&keys.account("settings"), &settings).await?;
        let custom = retry(
            "DescribeAccountCustomization",
            &self.settings.retry,
            &self.stats,
            &[],
            || async {
                sdk(
                    "DescribeAccountCustomization",
                    self.qs
                        .describe_account_customization()
                        .aws_account_id(acct)
                        .send()
                        .await,
                )
            },
        )
        .await;
        let custom = match custom {
            Ok(c) => serde_json::json!({
                "defaultTheme": c.account_customization().and_then(|c| c.default_theme()),
                "defaultEmailCustomizationTemplate": c.account_customization().and_then(|c| c.default_email_customization_template()),
            }),
            // An account without customization answers ResourceNotFound.
            Err(e) if e.class == crate::qs::ErrorClass::NotFound => serde_json::json!({}),
            Err(e) => return Err(e.into()),
        };
        self.put_json(&keys.account("customization"), &custom).await
    }

    pub(crate) async fn put_json<T: Serialize + ?Sized>(
        &self,
        key: &str,
        v: &T,
    ) -> Result<(), StepError> {
        let body =
            serde_json::to_vec_pretty(v).map_err(|e| StepError::NonRetryable(e.to_string()))?;
        match self.store.put_new(key, body).await {
            Ok(()) => Ok(()),
            // A retried step wrote it already; the earlier copy stands.
            Err(crate::store::StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn write_identity_items(
        &self,
        run_id: &str,
        items: Vec<HashMap<String, String>>,
    ) -> Result<(), StepError> {
        let Some((client, table)) = self
            .tables
            .as_ref()
            .and_then(|t| t.identities.as_ref().map(|i| (&t.client, i)))
        else {
            return Ok(());
        };
        let expires = crate::retention::identity_expiry(&self.policy.retention, chrono::Utc::now());
        for chunk in items.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let mut attrs: HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = item
                        .iter()
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| (k.clone(), attr_s(v)))
                        .collect();
                    attrs.insert("runId".into(), attr_s(run_id));
                    attrs.insert("expiresAt".into(), attr_n(expires));
                    let put = PutRequest::builder()
                        .set_item(Some(attrs))
                        .build()
                        .map_err(|e| StepError::NonRetryable(e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StepError>>()?;
            for attempt in 0..8u32 {
                let out = client
                    .batch_write_item()
                    .request_items(table, requests.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        StepError::Retryable(format!("DynamoDB BatchWriteItem on {table}: {e:?}"))
                    })?;
                requests = out
                    .unprocessed_items()
                    .and_then(|u| u.get(table))
                    .cloned()
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(self.settings.retry.delay(attempt)).await;
            }
            if !requests.is_empty() {
                return Err(StepError::Retryable(format!(
                    "DynamoDB left {} identity items unprocessed",
                    requests.len()
                )));
            }
        }
        Ok(())
    }
}

/// One flat item per user, group and membership. Only strings: empty values are left out, never
/// written as empty sets or strings.
fn identity_items(
    ns: &str,
    users: &[UserRecord],
    groups: &[GroupRecord],
) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    let item = |pairs: &[(&str, Option<&str>)]| -> HashMap<String, String> {
        pairs
            .iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
            .collect()
    };
    for u in users {
        out.push(item(&[
            ("itemKey", Some(&format!("{ns}#user#{}", u.user_name))),
            ("kind", Some("user")),
            ("namespace", Some(ns)),
            ("userName", Some(&u.user_name)),
            ("arn", Some(&u.arn)),
            ("email", u.email.as_deref()),
            ("role", u.role.as_deref()),
            ("identityType", u.identity_type.as_deref()),
            ("active", Some(if u.active { "true" } else { "false" })),
        ]));
    }
    for g in groups {
        out.push(item(&[
            ("itemKey", Some(&format!("{ns}#group#{}", g.group_name))),
            ("kind", Some("group")),
            ("namespace", Some(ns)),
            ("groupName", Some(&g.group_name)),
            ("arn", Some(&g.arn)),
            ("description", g.description.as_deref()),
            ("memberCount", Some(&g.members.len().to_string())),
        ]));
        for m in &g.members {
            out.push(item(&[
                (
                    "itemKey",
                    Some(&format!("{ns}#member#{}#{m}", g.group_name)),
                ),
                ("kind", Some("membership")),
                ("namespace", Some(ns)),
                ("groupName", Some(&g.group_name)),
                ("memberName", Some(m)),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_group_becomes_an_item_without_any_set() {
        let groups = vec![GroupRecord {
            group_name: "empty".into(),
            arn: "a".into(),
            description: None,
            members: vec![],
        }];
        let items = identity_items("default", &[], &groups);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["memberCount"], "0");
        assert!(
            !items[0].contains_key("description"),
            "absent values are left out, not empty"
        );
    }
}
