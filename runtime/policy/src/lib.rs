//! The backup policy model: types, loading (JSON/YAML), validation and schema generation.
//! No AWS and no I/O beyond reading the policy file.
