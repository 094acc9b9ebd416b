//! restJson1 wire details: raw-path routing, request context, JSON bodies, the error format of
//! Appendix C, and opaque pagination tokens. No QuickSight state lives here.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

pub type Json = Map<String, Value>;

/// A modeled QuickSight error: code, HTTP status (Appendix C), message and resource type.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{code} ({status}): {}", message.as_deref().unwrap_or(""))]
pub struct ApiError {
    pub code: &'static str,
    pub status: u16,
    pub message: Option<String>,
    pub resource_type: Option<String>,
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: Some(message.into()),
            resource_type: None,
        }
    }
    pub fn with_type(mut self, resource_type: Option<&str>) -> Self {
        self.resource_type = resource_type.map(str::to_owned);
        self
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValueException", 400, message)
    }
    pub fn not_found(resource_type: Option<&str>, message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", 404, message).with_type(resource_type)
    }
    pub fn exists(resource_type: Option<&str>, message: impl Into<String>) -> Self {
        Self::new("ResourceExistsException", 409, message).with_type(resource_type)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new("ConflictException", 409, message)
    }
    pub fn limit(resource_type: &str, message: impl Into<String>) -> Self {
        Self::new("LimitExceededException", 409, message).with_type(Some(resource_type))
    }
    pub fn bad_token() -> Self {
        Self::new(
            "InvalidNextTokenException",
            400,
            "The NextToken value isn't valid.",
        )
    }
    pub fn throttled(message: Option<String>) -> Self {
        Self {
            code: "ThrottlingException",
            status: 429,
            message,
            resource_type: None,
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("InternalFailureException", 500, message)
    }
    pub fn unknown_operation() -> Self {
        Self::new(
            "UnknownOperationException",
            404,
            "The requested operation is not supported by the emulator.",
        )
    }
    pub fn missing(member: &str) -> Self {
        Self::invalid(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(member)
        ))
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// One parsed API request.
pub struct Ctx {
    pub method: Method,
    /// Percent-decoded path segments (split on the raw `/` first).
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    /// From the SigV4 credential scope; `us-east-1` when absent.
    pub region: String,
    pub body: Bytes,
    pub request_id: String,
    /// Emulated "now", epoch milliseconds.
    pub now_ms: i64,
}

impl Ctx {
    pub fn new(
        method: Method,
        raw_path: &str,
        raw_query: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
        now_ms: i64,
    ) -> Self {
        let segments = raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let query = raw_query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Self {
            method,
            segments,
            query,
            region: region_of(headers),
            body,
            request_id: uuid::Uuid::new_v4().to_string(),
            now_ms,
        }
    }

    pub fn now_secs(&self) -> f64 {
        self.now_ms as f64 / 1000.0
    }

    /// The JSON body as an object (`{}` when empty).
    pub fn json(&self) -> Result<Json, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Json::new());
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(ApiError::invalid("The request body must be a JSON object.")),
            Err(e) => Err(ApiError::invalid(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Region from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/REGION/quicksight/aws4_request`.
pub fn region_of(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .filter(|r| !r.is_empty())
        .unwrap_or("us-east-1")
        .to_owned()
}

/// A JSON success response with `RequestId` in the body and the header.
pub fn ok(request_id: &str, mut body: Json) -> Response {
    body.insert("RequestId".into(), Value::String(request_id.to_owned()));
    let mut resp = (
        StatusCode::OK,
        [("content-type", "application/json")],
        Value::Object(body).to_string(),
    )
        .into_response();
    set_request_id(&mut resp, request_id);
    resp
}

/// The error format both SDKs understand: `x-amzn-ErrorType` + `{"Message","RequestId"(,"ResourceType")}`.
pub fn error(request_id: &str, e: &ApiError) -> Response {
    let mut body = Json::new();
    if let Some(m) = &e.message {
        body.insert("Message".into(), json!(m));
    }
    body.insert("RequestId".into(), json!(request_id));
    if let Some(t) = &e.resource_type {
        body.insert("ResourceType".into(), json!(t));
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (
        status,
        [("content-type", "application/json")],
        Value::Object(body).to_string(),
    )
        .into_response();
    resp.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(e.code));
    set_request_id(&mut resp, request_id);
    resp
}

pub fn set_request_id(resp: &mut Response, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
}

// ---- body member helpers -------------------------------------------------------------------

pub fn req_str<'a>(m: &'a Json, key: &str) -> Result<&'a str, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Err(ApiError::missing(key)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(ApiError::invalid(format!("{key} must not be empty."))),
        Some(_) => Err(ApiError::invalid(format!("{key} must be a string."))),
    }
}

pub fn opt_str<'a>(m: &'a Json, key: &str) -> Result<Option<&'a str>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("{key} must be a string."))),
    }
}

pub fn opt_bool(m: &Json, key: &str) -> Result<bool, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(format!("{key} must be a boolean."))),
    }
}

pub fn opt_obj<'a>(m: &'a Json, key: &str) -> Result<Option<&'a Json>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(ApiError::invalid(format!("{key} must be an object."))),
    }
}

pub fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            lower_first(key),
            allowed.join(", ")
        )))
    }
}

/// `[\w\-]+`, 1–512 characters: the pattern of QuickSight resource and job IDs.
pub fn check_id(key: &str, id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 512
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{key} '{id}' doesn't match the pattern [\\w\\-]+ (1-512)."
        )))
    }
}

// ---- pagination ----------------------------------------------------------------------------

/// A page request: `max-results` (1–100, default 100) and the decoded `next-token`.
pub struct Page {
    op: &'static str,
    pub limit: usize,
    after: Option<String>,
}

impl Page {
    pub fn from(ctx: &Ctx, op: &'static str) -> Result<Self, ApiError> {
        let limit = match ctx.query.get("max-results") {
            None => 100,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=100).contains(&n) => n as usize,
                _ => {
                    return Err(ApiError::invalid(format!(
                        "1 validation error detected: Value '{s}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"
                    )));
                }
            },
        };
        let after = match ctx.query.get("next-token") {
            None => None,
            Some(t) => Some(decode_token(op, t).ok_or_else(ApiError::bad_token)?),
        };
        Ok(Self { op, limit, after })
    }

    /// One page of `map` and the token of the next page if any item is left. O(log n + page).
    pub fn slice<'a, T>(
        &self,
        map: &'a BTreeMap<String, T>,
    ) -> (Vec<(&'a String, &'a T)>, Option<String>) {
        let range = match &self.after {
            Some(a) => map.range::<str, _>((Bound::Excluded(a.as_str()), Bound::Unbounded)),
            None => map.range::<str, _>(..),
        };
        let mut out = Vec::new();
        let mut last: Option<&String> = None;
        for (k, v) in range {
            if out.len() == self.limit {
                return (out, last.map(|l| encode_token(self.op, l)));
            }
            out.push((k, v));
            last = Some(k);
        }
        (out, None)
    }

    /// Same as [`Page::slice`] for a small vector (keys are positions).
    pub fn slice_vec<'a, T>(&self, items: &'a [T]) -> (Vec<&'a T>, Option<String>) {
        let map: BTreeMap<String, &T> = items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{i:010}"), v))
            .collect();
        let (page, next) = self.slice(&map);
        (page.into_iter().map(|(_, v)| *v).collect(), next)
    }
}

fn encode_token(op: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1\n{op}\n{key}"))
}

fn decode_token(op: &str, token: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, '\n');
    (parts.next()? == "v1" && parts.next()? == op).then(|| parts.next().map(str::to_owned))?
}

/// Adds `NextToken` when there is a next page.
pub fn with_token(mut body: Json, next: Option<String>) -> Json {
    if let Some(t) = next {
        body.insert("NextToken".into(), Value::String(t));
    }
    body
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ctx(query: &str) -> Ctx {
        Ctx::new(
            Method::GET,
            "/accounts/1/x",
            Some(query),
            &HeaderMap::new(),
            Bytes::new(),
            0,
        )
    }

    #[test]
    fn path_segments_are_split_raw_then_decoded() {
        let c = Ctx::new(
            Method::GET,
            "/accounts/123456789012/namespaces/default/users/role%2FAdmin%20Session%40x.com",
            None,
            &HeaderMap::new(),
            Bytes::new(),
            0,
        );
        assert_eq!(
            c.segments.last().map(String::as_str),
            Some("role/Admin Session@x.com")
        );
        assert_eq!(c.segments.len(), 6);
    }

    #[test]
    fn region_comes_from_the_credential_scope() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/quicksight/aws4_request, SignedHeaders=host, Signature=x"),
        );
        assert_eq!(region_of(&h), "eu-west-1");
        assert_eq!(region_of(&HeaderMap::new()), "us-east-1");
    }

    #[test]
    fn pages_walk_the_map_without_repeating_and_end_without_token() {
        let map: BTreeMap<String, u32> = (0..5).map(|i| (format!("k{i}"), i)).collect();
        let p = Page::from(&ctx("max-results=2"), "Op").expect("page");
        let (a, t) = p.slice(&map);
        assert_eq!(a.iter().map(|(_, v)| **v).collect::<Vec<_>>(), vec![0, 1]);
        let t = t.expect("more");
        let p2 = Page::from(&ctx(&format!("max-results=2&next-token={t}")), "Op").expect("page");
        let (b, t2) = p2.slice(&map);
        assert_eq!(b.iter().map(|(_, v)| **v).collect::<Vec<_>>(), vec![2, 3]);
        let p3 = Page::from(
            &ctx(&format!("max-results=2&next-token={}", t2.expect("more"))),
            "Op",
        )
        .expect("page");
        let (c, t3) = p3.slice(&map);
        assert_eq!(
            (c.iter().map(|(_, v)| **v).collect::<Vec<_>>(), t3),
            (vec![4], None)
        );
    }

    #[test]
    fn exact_fit_page_has_no_next_token() {
        let map: BTreeMap<String, u32> = (0..2).map(|i| (format!("k{i}"), i)).collect();
        let p = Page::from(&ctx("max-results=2"), "Op").expect("page");
        assert!(p.slice(&map).1.is_none());
    }

    #[test]
    fn bad_max_results_and_foreign_tokens_are_rejected() {
        for q in ["max-results=0", "max-results=101", "max-results=abc"] {
            assert_eq!(
                Page::from(&ctx(q), "Op").err().map(|e| e.code),
                Some("InvalidParameterValueException")
            );
        }
        let foreign = encode_token("OtherOp", "k");
        for q in [
            "next-token=garbage!".to_owned(),
            format!("next-token={foreign}"),
        ] {
            assert_eq!(
                Page::from(&ctx(&q), "Op").err().map(|e| e.code),
                Some("InvalidNextTokenException")
            );
        }
    }
}
