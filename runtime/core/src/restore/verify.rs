//! After import: each restored asset is described in the target and compared field by field
//! with its backed-up definition (timestamps aside). The comparison needs the bundle document's
//! `properties` (the layout qsbackup's emulator writes); other layouts get an existence and
//! name check only. Reads QuickSight; changes nothing.

use std::sync::{Arc, Mutex};

use aws_sdk_quicksight::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_quicksight::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_quicksight::error::BoxError;
use qsbackup_policy::AssetType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::Engine;
use crate::qs::{ErrorClass, QsError, retry, sdk};

/// The result of checking one restored asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum Verification {
    /// Every backed-up field equals the described one.
    Match,
    /// The asset exists with the expected name; its definition could not be compared.
    Exists,
    /// These fields differ (paths like `Version.ThemeArn`).
    Mismatch { fields: Vec<String> },
    /// Describe says the asset does not exist.
    Missing,
    /// The describe call failed.
    Error { message: String },
}

impl Verification {
    pub fn ok(&self) -> bool {
        matches!(self, Verification::Match | Verification::Exists)
    }
}

/// Keeps the raw JSON body of a response, so a describe can be compared as JSON.
#[derive(Clone, Debug, Default)]
struct CaptureBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for CaptureBody {
    fn name(&self) -> &'static str {
        "qsbackup-capture-body"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(bytes), Ok(mut slot)) = (context.response().body().bytes(), self.0.lock()) {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

impl CaptureBody {
    fn take(&self, member: &str) -> Option<Value> {
        let bytes = self.0.lock().ok()?.take()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()?
            .get(member)
            .cloned()
    }
}

macro_rules! describe {
    ($engine:expr, $op:literal, $member:literal, $builder:expr) => {{
        let cap = CaptureBody::default();
        let r = retry($op, &$engine.settings.retry, &$engine.stats, &[], || {
            let req = $builder.customize().interceptor(cap.clone());
            async move { sdk($op, req.send().await).map(|_| ()) }
        })
        .await;
        r.map(|()| cap.take($member))
    }};
}

impl Engine {
    /// The describe JSON (`Dashboard`, `DataSet`, …) of an asset as the service sent it; `None`
    /// when it does not exist, `Some(Null)` when the body could not be read.
    pub async fn describe_json(
        &self,
        qs: &aws_sdk_quicksight::Client,
        account: &str,
        kind: AssetType,
        id: &str,
    ) -> Result<Option<Value>, QsError> {
        let r = match kind {
            AssetType::Dashboard => describe!(
                self,
                "DescribeDashboard",
                "Dashboard",
                qs.describe_dashboard()
                    .aws_account_id(account)
                    .dashboard_id(id)
            ),
            AssetType::Analysis => describe!(
                self,
                "DescribeAnalysis",
                "Analysis",
                qs.describe_analysis()
                    .aws_account_id(account)
                    .analysis_id(id)
            ),
            AssetType::Dataset => describe!(
                self,
                "DescribeDataSet",
                "DataSet",
                qs.describe_data_set()
                    .aws_account_id(account)
                    .data_set_id(id)
            ),
            AssetType::Datasource => describe!(
                self,
                "DescribeDataSource",
                "DataSource",
                qs.describe_data_source()
                    .aws_account_id(account)
                    .data_source_id(id)
            ),
            AssetType::Theme => describe!(
                self,
                "DescribeTheme",
                "Theme",
                qs.describe_theme().aws_account_id(account).theme_id(id)
            ),
            AssetType::Folder => describe!(
                self,
                "DescribeFolder",
                "Folder",
                qs.describe_folder().aws_account_id(account).folder_id(id)
            ),
            AssetType::VpcConnection => describe!(
                self,
                "DescribeVPCConnection",
                "VPCConnection",
                qs.describe_vpc_connection()
                    .aws_account_id(account)
                    .vpc_connection_id(id)
            ),
        };
        match r {
            Ok(v) => Ok(Some(v.unwrap_or(Value::Null))),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The definition a restored asset should have: the bundle document's `name` and
/// `properties`, or `None` when the document has another layout.
pub fn backed_up_definition(doc: &Value) -> Option<(String, serde_json::Map<String, Value>)> {
    let props = doc.get("properties")?.as_object()?.clone();
    Some((doc.get("name")?.as_str()?.to_string(), props))
}

/// Fields of `expected` that `actual` lacks or holds differently. Fields `actual` adds
/// (server-side ARNs, timestamps) are ignored, and so are fields named `…Time`.
pub fn differences(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    let here = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e.iter().filter(|(k, _)| !k.ends_with("Time")) {
                match a.get(k) {
                    Some(av) => differences(ev, av, &here(k), out),
                    None if ev.is_null() => {}
                    None => out.push(here(k)),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                differences(ev, av, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        _ => out.push(if path.is_empty() {
            "(value)".into()
        } else {
            path.to_string()
        }),
    }
}

/// Compares a described asset with its expected name and properties. Folders describe their
/// parent as the last element of `FolderPath` rather than `ParentFolderArn`.
pub fn compare(
    name: &str,
    mut props: serde_json::Map<String, Value>,
    actual: &Value,
) -> Verification {
    let mut fields = Vec::new();
    if actual.get("Name").and_then(Value::as_str) != Some(name) {
        fields.push("Name".to_string());
    }
    if let Some(parent) = props.remove("ParentFolderArn") {
        let last = actual
            .get("FolderPath")
            .and_then(Value::as_array)
            .and_then(|p| p.last());
        if last != Some(&parent) {
            fields.push("FolderPath".into());
        }
    }
    differences(&Value::Object(props), actual, "", &mut fields);
    if fields.is_empty() {
        Verification::Match
    } else {
        Verification::Mismatch { fields }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_added_fields_and_timestamps_are_not_differences() {
        let props = json!({"Version": {"VersionNumber": 2, "ThemeArn": "t1"}, "CreatedTime": 1})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let actual = json!({"Name": "D", "Version": {"VersionNumber": 2.0, "ThemeArn": "t1", "Arn": "x"}, "CreatedTime": 9});
        assert_eq!(compare("D", props.clone(), &actual), Verification::Match);
        let changed = json!({"Name": "E", "Version": {"VersionNumber": 2, "ThemeArn": "t2"}});
        assert_eq!(
            compare("D", props, &changed),
            Verification::Mismatch {
                fields: vec!["Name".into(), "Version.ThemeArn".into()]
            }
        );
    }
}
