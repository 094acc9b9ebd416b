//! Storage backends with one layout: S3 (conditional writes, SSE-S3 or SSE-KMS) and a local
//! directory (temp file + no-clobber link). Writes never replace an existing object.

use std::path::{Path, PathBuf};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use tokio::io::AsyncReadExt;

/// Objects at or above this size are uploaded in parts of this size.
pub const MULTIPART_PART_SIZE: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{key} already exists; qsbackup never overwrites a stored object")]
    AlreadyExists { key: String },
    #[error("storage {location} is not usable: {reason}")]
    Unusable { location: String, reason: String },
    #[error("local storage I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("S3 {operation} on s3://{bucket}/{key}: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        message: String,
        retryable: bool,
    },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::S3 { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// Where backups are written.
#[derive(Clone, Debug)]
pub enum Store {
    Local {
        root: PathBuf,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        kms_key_arn: Option<String>,
    },
}

fn s3_err<E: ProvideErrorMetadata + std::fmt::Debug>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    err: &aws_sdk_s3::error::SdkError<E>,
) -> StoreError {
    use aws_sdk_s3::error::SdkError;
    let status = match err {
        SdkError::ServiceError(e) => Some(e.raw().status().as_u16()),
        _ => None,
    };
    let retryable = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(_) => matches!(status, Some(429 | 500 | 502 | 503 | 504)),
        _ => false,
    };
    let message = match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => format!("{err:?}").chars().take(300).collect(),
    };
    StoreError::S3 {
        operation,
        bucket: bucket.to_string(),
        key: key.to_string(),
        message: match status {
            Some(s) => format!("HTTP {s} {message}"),
            None => message,
        },
        retryable,
    }
}

fn is_precondition_failed<E: ProvideErrorMetadata>(err: &aws_sdk_s3::error::SdkError<E>) -> bool {
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => {
            matches!(e.raw().status().as_u16(), 412 | 409)
                || e.err().code() == Some("PreconditionFailed")
        }
        _ => false,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// A human-readable location, e.g. `s3://bucket` or `/home/me/qsbackup-data`.
    pub fn location(&self) -> String {
        match self {
            Store::Local { root } => root.display().to_string(),
            Store::S3 { bucket, .. } => format!("s3://{bucket}"),
        }
    }

    fn local_path(root: &Path, key: &str) -> PathBuf {
        key.split('/')
            .filter(|s| !s.is_empty())
            .fold(root.to_path_buf(), |p, s| p.join(s))
    }

    /// Checks, before anything is exported, that the storage exists and accepts writes.
    pub async fn preflight(&self, scope_root: &str) -> Result<(), StoreError> {
        match self {
            Store::Local { root } => {
                let dir = Self::local_path(root, scope_root);
                let unusable = |e: std::io::Error| StoreError::Unusable {
                    location: dir.display().to_string(),
                    reason: e.to_string(),
                };
                tokio::fs::create_dir_all(&dir).await.map_err(unusable)?;
                let probe = dir.join(format!(".probe-{}", uuid::Uuid::new_v4().simple()));
                tokio::fs::write(&probe, b"probe").await.map_err(unusable)?;
                tokio::fs::remove_file(&probe).await.map_err(unusable)
            }
            Store::S3 { client, bucket, .. } => {
                client.head_bucket().bucket(bucket).send().await.map(|_| ()).map_err(|e| {
                    let status = match &e {
                        aws_sdk_s3::error::SdkError::ServiceError(s) => s.raw().status().as_u16(),
                        _ => 0,
                    };
                    let reason = match status {
                        404 => "the bucket does not exist".to_string(),
                        403 => "access denied (check the bucket policy and your IAM permissions: s3:ListBucket, s3:PutObject, s3:GetObject)".to_string(),
                        _ => s3_err("HeadBucket", bucket, "", &e).to_string(),
                    };
                    StoreError::Unusable { location: format!("s3://{bucket}"), reason }
                })
            }
        }
    }

    /// Writes a small object; fails with `AlreadyExists` if `key` exists.
    pub async fn put_new(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        match self {
            Store::Local { root } => {
                let path = Self::local_path(root, key);
                let tmp = temp_sibling(&path);
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
                }
                tokio::fs::write(&tmp, &body).await.map_err(io(&tmp))?;
                link_no_clobber(&tmp, &path, key).await
            }
            Store::S3 {
                client,
                bucket,
                kms_key_arn,
            } => {
                let req = client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .if_none_match("*")
                    .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
                    .body(ByteStream::from(body));
                let req = match kms_key_arn {
                    Some(k) => req
                        .server_side_encryption(ServerSideEncryption::AwsKms)
                        .ssekms_key_id(k),
                    None => req.server_side_encryption(ServerSideEncryption::Aes256),
                };
                req.send().await.map(|_| ()).map_err(|e| {
                    if is_precondition_failed(&e) {
                        StoreError::AlreadyExists {
                            key: key.to_string(),
                        }
                    } else {
                        s3_err("PutObject", bucket, key, &e)
                    }
                })
            }
        }
    }

    /// Stores a local file under `key` (multipart when large); never overwrites.
    pub async fn put_file_new(&self, key: &str, file: &Path) -> Result<(), StoreError> {
        match self {
            Store::Local { root } => {
                let path = Self::local_path(root, key);
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
                }
                let tmp = temp_sibling(&path);
                // Same file system: a hard link is free; otherwise copy.
                if tokio::fs::hard_link(file, &tmp).await.is_err() {
                    tokio::fs::copy(file, &tmp).await.map_err(io(&tmp))?;
                }
                link_no_clobber(&tmp, &path, key).await
            }
            Store::S3 { client, bucket, .. } => {
                let size = tokio::fs::metadata(file).await.map_err(io(file))?.len();
                if size < MULTIPART_PART_SIZE as u64 {
                    let body = tokio::fs::read(file).await.map_err(io(file))?;
                    return self.put_new(key, body).await;
                }
                self.multipart_new(client, bucket, key, file).await
            }
        }
    }

    async fn multipart_new(
        &self,
        client: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        file: &Path,
    ) -> Result<(), StoreError> {
        let kms = match self {
            Store::S3 { kms_key_arn, .. } => kms_key_arn.clone(),
            Store::Local { .. } => None,
        };
        let create = client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256);
        let create = match &kms {
            Some(k) => create
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(k),
            None => create.server_side_encryption(ServerSideEncryption::Aes256),
        };
        let upload = create
            .send()
            .await
            .map_err(|e| s3_err("CreateMultipartUpload", bucket, key, &e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let result = async {
            let mut f = tokio::fs::File::open(file).await.map_err(io(file))?;
            let mut parts = Vec::new();
            let mut buf = vec![0u8; MULTIPART_PART_SIZE];
            for number in 1.. {
                let n = read_full(&mut f, &mut buf).await.map_err(io(file))?;
                if n == 0 {
                    break;
                }
                let part = client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
                    .body(ByteStream::from(buf[..n].to_vec()))
                    .send()
                    .await
                    .map_err(|e| s3_err("UploadPart", bucket, key, &e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_string))
                        .set_checksum_sha256(part.checksum_sha256().map(str::to_string))
                        .build(),
                );
                if n < buf.len() {
                    break;
                }
            }
            client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .if_none_match("*")
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    if is_precondition_failed(&e) {
                        StoreError::AlreadyExists {
                            key: key.to_string(),
                        }
                    } else {
                        s3_err("CompleteMultipartUpload", bucket, key, &e)
                    }
                })
        }
        .await;
        if result.is_err() {
            let _ = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    /// Reads an object; `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Local { root } => {
                let path = Self::local_path(root, key);
                match tokio::fs::read(&path).await {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io(&path)(e)),
                }
            }
            Store::S3 { client, bucket, .. } => {
                match client.get_object().bucket(bucket).key(key).send().await {
                    Ok(out) => {
                        let bytes = out.body.collect().await.map_err(|e| StoreError::S3 {
                            operation: "GetObject",
                            bucket: bucket.clone(),
                            key: key.to_string(),
                            message: e.to_string(),
                            retryable: true,
                        })?;
                        Ok(Some(bytes.to_vec()))
                    }
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                    Err(e) => Err(s3_err("GetObject", bucket, key, &e)),
                }
            }
        }
    }

    /// Copies an object to a local file, streaming; returns false when it does not exist.
    pub async fn download(&self, key: &str, dest: &Path) -> Result<bool, StoreError> {
        match self {
            Store::Local { root } => {
                let path = Self::local_path(root, key);
                match tokio::fs::copy(&path, dest).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(io(&path)(e)),
                }
            }
            Store::S3 { client, bucket, .. } => {
                let out = match client.get_object().bucket(bucket).key(key).send().await {
                    Ok(out) => out,
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                        return Ok(false);
                    }
                    Err(e) => return Err(s3_err("GetObject", bucket, key, &e)),
                };
                let mut reader = out.body.into_async_read();
                let mut f = tokio::fs::File::create(dest).await.map_err(io(dest))?;
                tokio::io::copy(&mut reader, &mut f)
                    .await
                    .map_err(io(dest))?;
                Ok(true)
            }
        }
    }

    /// The names of the immediate "folders" below `prefix` (which ends with `/`), sorted.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        match self {
            Store::Local { root } => {
                let dir = Self::local_path(root, prefix);
                let mut entries = match tokio::fs::read_dir(&dir).await {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(io(&dir)(e)),
                };
                while let Some(entry) = entries.next_entry().await.map_err(io(&dir))? {
                    if entry.file_type().await.map_err(io(&dir))?.is_dir() {
                        out.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Store::S3 { client, bucket, .. } => {
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .delimiter("/")
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| s3_err("ListObjectsV2", bucket, prefix, &e))?;
                    out.extend(page.common_prefixes().iter().filter_map(|p| {
                        p.prefix()
                            .map(|p| p[prefix.len()..].trim_end_matches('/').to_string())
                    }));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every key below `prefix` (which ends with `/`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Local { root } => {
                let mut out = Vec::new();
                let mut stack = vec![Self::local_path(root, prefix)];
                while let Some(dir) = stack.pop() {
                    let mut entries = match tokio::fs::read_dir(&dir).await {
                        Ok(e) => e,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io(&dir)(e)),
                    };
                    while let Some(entry) = entries.next_entry().await.map_err(io(&dir))? {
                        let path = entry.path();
                        if entry.file_type().await.map_err(io(&path))?.is_dir() {
                            stack.push(path);
                        } else if let Ok(rel) = path.strip_prefix(root) {
                            let key = rel.to_string_lossy().replace('\\', "/");
                            if !key.contains(".tmp-") {
                                out.push(key);
                            }
                        }
                    }
                }
                out.sort();
                Ok(out)
            }
            Store::S3 { client, bucket, .. } => {
                let mut out = Vec::new();
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| s3_err("ListObjectsV2", bucket, prefix, &e))?;
                    out.extend(
                        page.contents()
                            .iter()
                            .filter_map(|o| o.key().map(str::to_string)),
                    );
                }
                out.sort();
                Ok(out)
            }
        }
    }

    /// Deletes one object (used by retention and lock release only).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Local { root } => {
                let path = Self::local_path(root, key);
                match tokio::fs::remove_file(&path).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
                    _ => Ok(()),
                }
            }
            Store::S3 { client, bucket, .. } => client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| s3_err("DeleteObject", bucket, key, &e)),
        }
    }

    /// The local path of a key (local backend only), for reports that point at files.
    pub fn local_file(&self, key: &str) -> Option<PathBuf> {
        match self {
            Store::Local { root } => Some(Self::local_path(root, key)),
            Store::S3 { .. } => None,
        }
    }
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()))
}

/// Publishes `tmp` as `path` atomically, failing if `path` exists (a hard link never replaces).
async fn link_no_clobber(tmp: &Path, path: &Path, key: &str) -> Result<(), StoreError> {
    let linked = tokio::fs::hard_link(tmp, path).await;
    let _ = tokio::fs::remove_file(tmp).await;
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists {
            key: key.to_string(),
        }),
        Err(e) => Err(io(path)(e)),
    }
}

async fn read_full(f: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = f.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn local_writes_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Local {
            root: dir.path().to_path_buf(),
        };
        store.put_new("a/b/c.json", b"one".to_vec()).await.unwrap();
        let again = store.put_new("a/b/c.json", b"two".to_vec()).await;
        assert!(matches!(again, Err(StoreError::AlreadyExists { .. })));
        assert_eq!(store.get("a/b/c.json").await.unwrap().unwrap(), b"one");
        assert_eq!(
            store.list("a/").await.unwrap(),
            vec!["a/b/c.json".to_string()]
        );
        assert_eq!(store.get("a/missing").await.unwrap(), None);
    }
}
