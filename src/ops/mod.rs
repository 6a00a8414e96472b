//! Plans executed step by step: Kubernetes mutations, audit log, read-only refusal.
