//! A wire-compatible Amazon QuickSight emulator (restJson1) with state, quotas and fault injection.
