//! The run lock (a lease, so two runs for one account/Region never overlap) and the run catalog.
//! With DynamoDB tables: conditional writes. Without: a lock object written with no-clobber
//! semantics in the backup storage itself (S3 If-None-Match or a local link).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StepError;
use crate::engine::Engine;
use crate::store::StoreError;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LockRecord {
    run_id: String,
    expires_at: i64,
    host: String,
}

fn host() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("pid {}", std::process::id()))
}

pub(crate) fn attr_s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn attr_n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Engine {
    /// Takes the run lock of this account/Region for `run_id`, or explains who holds it.
    pub async fn acquire_lock(&self, run_id: &str, now: DateTime<Utc>) -> Result<(), StepError> {
        let expires = now.timestamp() + self.settings.lock_lease.as_secs() as i64;
        if let Some((client, table)) = self
            .tables
            .as_ref()
            .and_then(|t| t.lock.as_ref().map(|l| (&t.client, l)))
        {
            let r = client
                .put_item()
                .table_name(table)
                .item("lockId", attr_s(self.scope.id()))
                .item("runId", attr_s(run_id))
                .item("expiresAt", attr_n(expires))
                .item("host", attr_s(host()))
                .condition_expression(
                    "attribute_not_exists(lockId) OR expiresAt < :now OR runId = :run",
                )
                .expression_attribute_values(":now", attr_n(now.timestamp()))
                .expression_attribute_values(":run", attr_s(run_id))
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            return match r {
                Ok(_) => Ok(()),
                Err(e) => match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                        let holder = c.item().and_then(|i| i.get("runId")).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                        Err(StepError::LockHeld(format!(
                            "another backup run ({holder}) holds the lock of {}; try again when it has finished",
                            self.scope.id()
                        )))
                    }
                    _ => Err(StepError::Retryable(format!("DynamoDB PutItem on {table}: {e:?}"))),
                },
            };
        }
        let key = self.scope.lock();
        let record = LockRecord {
            run_id: run_id.to_string(),
            expires_at: expires,
            host: host(),
        };
        let body =
            serde_json::to_vec(&record).map_err(|e| StepError::NonRetryable(e.to_string()))?;
        for _ in 0..2 {
            match self.store.put_new(&key, body.clone()).await {
                Ok(()) => return Ok(()),
                Err(StoreError::AlreadyExists { .. }) => {
                    let held: Option<LockRecord> = self
                        .store
                        .get(&key)
                        .await?
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    match held {
                        Some(h) if h.run_id == run_id => return Ok(()),
                        Some(h) if h.expires_at >= now.timestamp() => {
                            return Err(StepError::LockHeld(format!(
                                "another backup run ({} on {}) holds the lock {} until {}; try again when it has finished",
                                h.run_id,
                                h.host,
                                self.store.location() + "/" + &key,
                                DateTime::from_timestamp(h.expires_at, 0)
                                    .map(|t| t.to_rfc3339())
                                    .unwrap_or_default()
                            )));
                        }
                        // Expired (or unreadable) lease: take it over.
                        _ => self.store.delete(&key).await?,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StepError::LockHeld(format!(
            "could not take the lock {key}"
        )))
    }

    /// Releases the lock if `run_id` still holds it.
    pub async fn release_lock(&self, run_id: &str) -> Result<(), StepError> {
        if let Some((client, table)) = self
            .tables
            .as_ref()
            .and_then(|t| t.lock.as_ref().map(|l| (&t.client, l)))
        {
            let r = client
                .delete_item()
                .table_name(table)
                .key("lockId", attr_s(self.scope.id()))
                .condition_expression("runId = :run")
                .expression_attribute_values(":run", attr_s(run_id))
                .send()
                .await;
            return match r {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(StepError::Retryable(format!(
                    "DynamoDB DeleteItem on {table}: {e:?}"
                ))),
            };
        }
        let key = self.scope.lock();
        let held: Option<LockRecord> = self
            .store
            .get(&key)
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok());
        if held.is_some_and(|h| h.run_id == run_id) {
            self.store.delete(&key).await?;
        }
        Ok(())
    }

    /// Writes or updates the catalog record of a run (no-op without a catalog table).
    pub async fn catalog_put(
        &self,
        run_id: &str,
        fields: HashMap<&str, AttributeValue>,
    ) -> Result<(), StepError> {
        let Some((client, table)) = self
            .tables
            .as_ref()
            .and_then(|t| t.catalog.as_ref().map(|c| (&t.client, c)))
        else {
            return Ok(());
        };
        let mut update = Vec::new();
        let mut req = client
            .update_item()
            .table_name(table)
            .key("scope", attr_s(self.scope.id()))
            .key("runId", attr_s(run_id));
        for (i, (k, v)) in fields.into_iter().enumerate() {
            update.push(format!("#k{i} = :v{i}"));
            req = req
                .expression_attribute_names(format!("#k{i}"), k)
                .expression_attribute_values(format!(":v{i}"), v);
        }
        req.update_expression(format!("SET {}", update.join(", ")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StepError::Retryable(format!("DynamoDB UpdateItem on {table}: {e:?}")))
    }
}
