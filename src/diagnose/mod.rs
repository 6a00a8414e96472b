//! Findings: what is wrong across the layers, with evidence, explanation and fix.
//! Pure functions of a [`crate::model::snapshot::Snapshot`].
