//! Reserved for a later issue: see src/lib.rs.
