//! Import jobs: rebuilding a bundle zip with only the entries a job needs (principals remapped),
//! turning the plan's overrides into the SDK's override structures, and starting and polling
//! one job (LimitExceeded waits for a slot; a job id already running is adopted, never doubled).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_quicksight::primitives::Blob;
use aws_sdk_quicksight::types::{
    self as t, AssetBundleImportFailureAction, AssetBundleImportJobOverrideParameters,
    AssetBundleImportJobOverrideTags, AssetBundleImportJobStatus, AssetBundleImportSource,
    DataSourceParameters,
};
use qsbackup_policy::AssetType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plan::{FailureAction, PlannedJob, ResolvedDataSource};
use super::source::split_key;
use crate::engine::Engine;
use crate::overrides::{Overrides, PrincipalMapper, VpcConnectionOverride};
use crate::qs::{ErrorClass, QsError, retry, sdk};

/// Bundles up to this size go inline (`Body`); larger ones through an S3 URI.
pub const MAX_INLINE_BYTES: u64 = 20 * 1024 * 1024;
/// How long one import job may take before the restore stops waiting for it.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Which entries of which spooled bundle go into a job's zip.
pub struct ZipPart {
    pub file: PathBuf,
    /// `None`: every entry.
    pub names: Option<BTreeSet<String>>,
}

/// Writes a job's bundle: the chosen entries of each part (first occurrence of a name wins),
/// JSON entries with their principals remapped. Returns the size in bytes.
pub fn build_zip(dest: &Path, parts: &[ZipPart], mapper: &PrincipalMapper) -> Result<u64, String> {
    let out = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut w = zip::ZipWriter::new(std::io::BufWriter::new(out));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut seen = BTreeSet::new();
    for part in parts {
        let f = std::fs::File::open(&part.file).map_err(|e| e.to_string())?;
        let mut archive =
            zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| e.to_string())?;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(|e| e.to_string())?;
            let name = entry.name().to_string();
            if part.names.as_ref().is_some_and(|n| !n.contains(&name)) || !seen.insert(name.clone())
            {
                continue;
            }
            if name.ends_with(".json") {
                let mut text = Vec::new();
                entry
                    .read_to_end(&mut text)
                    .map_err(|e| format!("{name}: {e}"))?;
                let body = match serde_json::from_slice::<Value>(&text) {
                    Ok(mut v) => match mapper.rewrite(&mut v) {
                        0 => text,
                        _ => serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())?,
                    },
                    Err(_) => text,
                };
                w.start_file(name.as_str(), opts)
                    .map_err(|e| e.to_string())?;
                w.write_all(&body).map_err(|e| e.to_string())?;
            } else {
                w.raw_copy_file(entry).map_err(|e| format!("{name}: {e}"))?;
            }
        }
    }
    w.finish()
        .map_err(|e| e.to_string())?
        .flush()
        .map_err(|e| e.to_string())?;
    std::fs::metadata(dest)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

/// The SDK union member for `{"<Variant>": {...}}` connection parameters.
pub fn sdk_parameters(v: &Value) -> Result<DataSourceParameters, String> {
    let (variant, fields) = v
        .as_object()
        .and_then(|m| m.iter().next())
        .and_then(|(k, f)| f.as_object().map(|f| (k.as_str(), f)))
        .ok_or_else(|| "connection parameters must be {\"<Type>Parameters\": {...}}".to_string())?;
    let s = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
    let n = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_i64)
            .and_then(|x| i32::try_from(x).ok())
    };
    let e = |e: aws_smithy_types::error::operation::BuildError| format!("{variant}: {e}");
    macro_rules! host_port_db {
        ($ty:ident) => {
            DataSourceParameters::$ty(
                t::$ty::builder()
                    .set_host(s("Host"))
                    .set_port(n("Port"))
                    .set_database(s("Database"))
                    .build()
                    .map_err(e)?,
            )
        };
    }
    Ok(match variant {
        "PostgreSqlParameters" => host_port_db!(PostgreSqlParameters),
        "MySqlParameters" => host_port_db!(MySqlParameters),
        "MariaDbParameters" => host_port_db!(MariaDbParameters),
        "AuroraParameters" => host_port_db!(AuroraParameters),
        "AuroraPostgreSqlParameters" => host_port_db!(AuroraPostgreSqlParameters),
        "SqlServerParameters" => host_port_db!(SqlServerParameters),
        "OracleParameters" => host_port_db!(OracleParameters),
        "TeradataParameters" => host_port_db!(TeradataParameters),
        "RedshiftParameters" => DataSourceParameters::RedshiftParameters(
            t::RedshiftParameters::builder()
                .set_host(s("Host"))
                .set_port(n("Port"))
                .set_database(s("Database"))
                .set_cluster_id(s("ClusterId"))
                .build()
                .map_err(e)?,
        ),
        "SnowflakeParameters" => DataSourceParameters::SnowflakeParameters(
            t::SnowflakeParameters::builder()
                .set_host(s("Host"))
                .set_database(s("Database"))
                .set_warehouse(s("Warehouse"))
                .build()
                .map_err(e)?,
        ),
        "DatabricksParameters" => DataSourceParameters::DatabricksParameters(
            t::DatabricksParameters::builder()
                .set_host(s("Host"))
                .set_port(n("Port"))
                .set_sql_endpoint_path(s("SqlEndpointPath"))
                .build()
                .map_err(e)?,
        ),
        "PrestoParameters" => DataSourceParameters::PrestoParameters(
            t::PrestoParameters::builder()
                .set_host(s("Host"))
                .set_port(n("Port"))
                .set_catalog(s("Catalog"))
                .build()
                .map_err(e)?,
        ),
        "SparkParameters" => DataSourceParameters::SparkParameters(
            t::SparkParameters::builder()
                .set_host(s("Host"))
                .set_port(n("Port"))
                .build()
                .map_err(e)?,
        ),
        "AthenaParameters" => DataSourceParameters::AthenaParameters(
            t::AthenaParameters::builder()
                .set_work_group(s("WorkGroup"))
                .set_role_arn(s("RoleArn"))
                .build(),
        ),
        "AmazonOpenSearchParameters" => DataSourceParameters::AmazonOpenSearchParameters(
            t::AmazonOpenSearchParameters::builder()
                .set_domain(s("Domain"))
                .build()
                .map_err(e)?,
        ),
        "RdsParameters" => DataSourceParameters::RdsParameters(
            t::RdsParameters::builder()
                .set_instance_id(s("InstanceId"))
                .set_database(s("Database"))
                .build()
                .map_err(e)?,
        ),
        other => {
            return Err(format!(
                "connection overrides for {other} are not supported"
            ));
        }
    })
}

fn data_source_override(
    d: &ResolvedDataSource,
) -> Result<t::AssetBundleImportJobDataSourceOverrideParameters, String> {
    let mut b = t::AssetBundleImportJobDataSourceOverrideParameters::builder()
        .data_source_id(&d.id)
        .set_name(d.name.clone());
    if let Some(p) = &d.parameters {
        b = b.data_source_parameters(sdk_parameters(p)?);
    }
    if let Some(s) = &d.secret_arn {
        b = b.credentials(
            t::AssetBundleImportJobDataSourceCredentials::builder()
                .secret_arn(s)
                .build(),
        );
    }
    if let Some(v) = &d.vpc_connection_arn {
        b = b.vpc_connection_properties(
            t::VpcConnectionProperties::builder()
                .vpc_connection_arn(v)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(off) = d.disable_ssl {
        b = b.ssl_properties(t::SslProperties::builder().disable_ssl(off).build());
    }
    b.build().map_err(|e| e.to_string())
}

fn vpc_override(
    v: &VpcConnectionOverride,
) -> Result<t::AssetBundleImportJobVpcConnectionOverrideParameters, String> {
    let list = |l: &Vec<String>| (!l.is_empty()).then(|| l.clone());
    t::AssetBundleImportJobVpcConnectionOverrideParameters::builder()
        .vpc_connection_id(&v.id)
        .set_name(v.name.clone())
        .set_subnet_ids(list(&v.subnet_ids))
        .set_security_group_ids(list(&v.security_group_ids))
        .set_dns_resolvers(list(&v.dns_resolvers))
        .set_role_arn(v.role_arn.clone())
        .build()
        .map_err(|e| e.to_string())
}

/// The job's `OverrideParameters` (prefix, data sources, VPC connections).
pub fn override_parameters(
    job: &PlannedJob,
    o: &Overrides,
) -> Result<Option<AssetBundleImportJobOverrideParameters>, String> {
    let mut b = AssetBundleImportJobOverrideParameters::builder();
    let mut any = false;
    if let Some(p) = &o.resource_id_prefix {
        b = b.resource_id_override_configuration(
            t::AssetBundleImportJobResourceIdOverrideConfiguration::builder()
                .prefix_for_all_resources(p)
                .build(),
        );
        any = true;
    }
    for d in &job.data_sources {
        b = b.data_sources(data_source_override(d)?);
        any = true;
    }
    for v in &job.vpc_connections {
        b = b.vpc_connections(vpc_override(v)?);
        any = true;
    }
    Ok(any.then(|| b.build()))
}

/// The job's `OverrideTags`: the overrides file's tags on every asset type the job holds.
pub fn override_tags(
    job: &PlannedJob,
    o: &Overrides,
) -> Result<Option<AssetBundleImportJobOverrideTags>, String> {
    if o.tags.is_empty() {
        return Ok(None);
    }
    let tags: Vec<t::Tag> = o
        .tags
        .iter()
        .map(|(k, v)| {
            t::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let kinds: BTreeSet<AssetType> = job
        .assets
        .iter()
        .filter_map(|k| split_key(k).map(|(t, _)| t))
        .collect();
    let all = || vec!["*".to_string()];
    let e = |e: aws_smithy_types::error::operation::BuildError| e.to_string();
    let mut b = AssetBundleImportJobOverrideTags::builder();
    for kind in kinds {
        let tags = Some(tags.clone());
        b = match kind {
            AssetType::VpcConnection => b.vpc_connections(
                t::AssetBundleImportJobVpcConnectionOverrideTags::builder()
                    .set_vpc_connection_ids(Some(all()))
                    .set_tags(tags)
                    .build()
                    .map_err(e)?,
            ),
            AssetType::Datasource => b.data_sources(
                t::AssetBundleImportJobDataSourceOverrideTags::builder()
                    .set_data_source_ids(Some(all()))
                    .set_tags(tags)
                    .build()
                    .map_err(e)?,
            ),
            AssetType::Dataset => b.data_sets(
                t::AssetBundleImportJobDataSetOverrideTags::builder()
                    .set_data_set_ids(Some(all()))
                    .set_tags(tags)
                    .build()
                    .map_err(e)?,
            ),
            AssetType::Theme => b.themes(
                t::AssetBundleImportJobThemeOverrideTags::builder()
                    .set_theme_ids(Some(all()))
                    .set_tags(tags)
                    .build()
                    .map_err(e)?,
            ),
            AssetType::Analysis => b.analyses(
                t::AssetBundleImportJobAnalysisOverrideTags::builder()
                    .set_analysis_ids(Some(all()))
                    .set_tags(tags)
                    .build()
                    .map_err(e)?,
            ),
            AssetType::Dashboard => b.dashboards(
                t::AssetBundleImportJobDashboardOverrideTags::builder()
                    .set_dashboard_ids(Some(all()))
                    .set_tags(tags)
                    .build()
                    .map_err(e)?,
            ),
            AssetType::Folder => b.folders(
                t::AssetBundleImportJobFolderOverrideTags::builder()
                    .set_folder_ids(Some(all()))
                    .set_tags(tags)
                    .build()
                    .map_err(e)?,
            ),
        };
    }
    Ok(Some(b.build()))
}

/// How a job's bundle reaches QuickSight.
#[derive(Clone, Debug)]
pub enum Source {
    Body(bytes::Bytes),
    S3Uri(String),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Body(b) => format!("inline body ({} bytes)", b.len()),
            Source::S3Uri(u) => u.clone(),
        }
    }
}

/// One error record of an import job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub message: String,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOutcome {
    pub job_id: String,
    pub status: String,
    pub source: String,
    pub assets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<JobError>,
}

impl JobOutcome {
    pub fn succeeded(&self) -> bool {
        self.status == "SUCCESSFUL"
    }
}

/// Everything needed to start one import job.
pub struct JobRequest<'a> {
    pub qs: &'a aws_sdk_quicksight::Client,
    pub account: &'a str,
    pub job_id: String,
    pub assets: Vec<String>,
    pub source: Source,
    pub failure_action: FailureAction,
    pub parameters: Option<AssetBundleImportJobOverrideParameters>,
    pub tags: Option<AssetBundleImportJobOverrideTags>,
}

fn terminal(s: &AssetBundleImportJobStatus) -> bool {
    matches!(
        s,
        AssetBundleImportJobStatus::Successful
            | AssetBundleImportJobStatus::Failed
            | AssetBundleImportJobStatus::FailedRollbackCompleted
            | AssetBundleImportJobStatus::FailedRollbackError
    )
}

impl Engine {
    /// Starts one import job and polls it to the end.
    pub(crate) async fn run_import_job(&self, r: JobRequest<'_>) -> Result<JobOutcome, QsError> {
        let source = match &r.source {
            Source::Body(b) => AssetBundleImportSource::builder()
                .body(Blob::new(b.to_vec()))
                .build(),
            Source::S3Uri(u) => AssetBundleImportSource::builder().s3_uri(u).build(),
        };
        let action = match r.failure_action {
            FailureAction::Rollback => AssetBundleImportFailureAction::Rollback,
            FailureAction::DoNothing => AssetBundleImportFailureAction::DoNothing,
        };
        let began = Instant::now();
        let mut waits = 0u32;
        loop {
            let started = retry(
                "StartAssetBundleImportJob",
                &self.settings.retry,
                &self.stats,
                &[ErrorClass::Conflict, ErrorClass::Limit],
                || {
                    let req =
                        r.qs.start_asset_bundle_import_job()
                            .aws_account_id(r.account)
                            .asset_bundle_import_job_id(&r.job_id)
                            .asset_bundle_import_source(source.clone())
                            .failure_action(action.clone())
                            .set_override_parameters(r.parameters.clone())
                            .set_override_tags(r.tags.clone());
                    async move { sdk("StartAssetBundleImportJob", req.send().await) }
                },
            )
            .await;
            match started {
                Ok(_) => {
                    tracing::info!(job_id = r.job_id, assets = r.assets.len(), source = %r.source.describe(), "import job started");
                    break;
                }
                // Our own earlier attempt got through: adopt it.
                Err(e) if e.class == ErrorClass::Conflict => {
                    tracing::info!(job_id = r.job_id, "import job already running; adopting it");
                    break;
                }
                // Five imports already run in this account (maybe not ours): wait for a slot.
                Err(e) if e.class == ErrorClass::Limit && began.elapsed() < JOB_TIMEOUT => {
                    tracing::info!(
                        job_id = r.job_id,
                        "import job quota full; waiting for a slot"
                    );
                    tokio::time::sleep(self.settings.poll.wait(waits)).await;
                    waits += 1;
                }
                Err(e) => return Err(e),
            }
        }
        let mut polls = 0;
        loop {
            tokio::time::sleep(self.settings.poll.wait(polls)).await;
            polls += 1;
            let out = retry(
                "DescribeAssetBundleImportJob",
                &self.settings.retry,
                &self.stats,
                &[],
                || async {
                    sdk(
                        "DescribeAssetBundleImportJob",
                        r.qs.describe_asset_bundle_import_job()
                            .aws_account_id(r.account)
                            .asset_bundle_import_job_id(&r.job_id)
                            .send()
                            .await,
                    )
                },
            )
            .await?;
            let status = out.job_status().cloned();
            if status.as_ref().is_some_and(terminal) || began.elapsed() > JOB_TIMEOUT {
                let mut errors: Vec<JobError> = out
                    .errors()
                    .iter()
                    .chain(out.rollback_errors())
                    .map(|e| JobError {
                        arn: e.arn().map(str::to_string),
                        message: match (e.r#type(), e.message()) {
                            (Some(t), Some(m)) => format!("{t}: {m}"),
                            (_, Some(m)) => m.to_string(),
                            _ => "import failed without a message".into(),
                        },
                    })
                    .collect();
                let status = match status {
                    Some(s) if terminal(&s) => s.as_str().to_string(),
                    _ => {
                        errors.push(JobError {
                            arn: None,
                            message: format!("gave up waiting after {JOB_TIMEOUT:?}"),
                        });
                        "TIMED_OUT".to_string()
                    }
                };
                tracing::info!(
                    job_id = r.job_id,
                    status,
                    errors = errors.len(),
                    "import job finished"
                );
                return Ok(JobOutcome {
                    job_id: r.job_id,
                    status,
                    source: r.source.describe(),
                    assets: r.assets,
                    errors,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn connection_parameters_become_the_sdk_union_member() {
        let p = sdk_parameters(&serde_json::json!({"RedshiftParameters": {"Host": "h", "Port": 5439, "Database": "dev"}})).unwrap();
        let r = p.as_redshift_parameters().unwrap();
        assert_eq!((r.host(), r.port(), r.database()), (Some("h"), 5439, "dev"));
        assert!(
            sdk_parameters(&serde_json::json!({"JiraParameters": {}}))
                .unwrap_err()
                .contains("not supported")
        );
    }

    #[test]
    fn rebuilt_zips_keep_only_the_chosen_entries_and_remap_principals() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("b.qs");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&src).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        for (name, body) in [
            (
                "dashboard/d1.json",
                r#"{"permissions":[{"Principal":"arn:aws:quicksight:us-east-1:111111111111:group/default/admins"}]}"#,
            ),
            ("dashboard/d2.json", "{}"),
            ("padding/filler.bin", "xxxx"),
        ] {
            w.start_file(name, o).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap();
        let m = PrincipalMapper::new(
            &Overrides::default(),
            "111111111111",
            "default",
            "222222222222",
            "eu-west-1",
            "default",
        )
        .unwrap();
        let dest = dir.path().join("out.qs");
        let names = ["dashboard/d1.json", "padding/filler.bin"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        build_zip(
            &dest,
            &[ZipPart {
                file: src,
                names: Some(names),
            }],
            &m,
        )
        .unwrap();
        let mut z = zip::ZipArchive::new(std::fs::File::open(&dest).unwrap()).unwrap();
        assert_eq!(z.len(), 2);
        let mut text = String::new();
        z.by_name("dashboard/d1.json")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert!(
            text.contains("arn:aws:quicksight:eu-west-1:222222222222:group/default/admins"),
            "{text}"
        );
    }
}
