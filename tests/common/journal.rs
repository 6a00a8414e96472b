//! Reading a test's audit journal: every outcome of a plan step must follow its intent
//! line (same plan run, same step), and tests that compare outcomes read those alone.

use kcops::ops::AuditEntry;

/// The lines that are not intents, after checking that each step outcome (other than
/// "not run") has its intent before it, and that no intent is left without outcome.
pub fn outcomes(entries: &[AuditEntry]) -> Vec<AuditEntry> {
    assert_written_ahead(entries);
    let open = kcops::ops::journal::interrupted(entries);
    assert!(open.is_empty(), "intents without outcome: {open:?}");
    entries.iter().filter(|e| !e.is_intent()).cloned().collect()
}

/// Each outcome of a step that ran has its intent line earlier in the journal.
pub fn assert_written_ahead(entries: &[AuditEntry]) {
    for (i, e) in entries.iter().enumerate() {
        if e.is_intent() || e.plan.is_none() || e.result.starts_with("not run") {
            continue;
        }
        assert!(e.step.is_some(), "a plan line without its step: {e:?}");
        let intent = entries[..i]
            .iter()
            .any(|p| p.is_intent() && p.plan == e.plan && p.step == e.step);
        assert!(intent, "outcome without an intent before it: {e:?}");
    }
}
