//! The backup policy model: types, loading (JSON/YAML), validation and schema generation.
//! No AWS and no I/O beyond reading the policy file.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cron;
mod error;
mod load;
pub mod model;
mod position;
mod reference;
mod schema;
pub mod semantic;
mod suggest;
mod validate;
mod yaml;

pub use error::{PolicyError, PolicyErrors};
pub use load::{Format, MAX_POLICY_BYTES, load, parse};
pub use model::*;
pub use reference::reference_markdown;
pub use schema::{REGENERATE_HINT, schema, schema_string};
