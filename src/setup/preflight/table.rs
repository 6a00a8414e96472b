//! The preflight as a plain-text table for `--preflight-only` and for review before a
//! change window: one row per check, the fix indented under a failed or warned one so
//! the line stays readable in 80 columns.

use super::{Check, Status};

/// `STATUS  CHECK  FOUND` rows with each fix on its own line below, then a summary.
pub fn render_table(checks: &[Check]) -> String {
    let id_width = checks.iter().map(|c| c.id.len()).max().unwrap_or(5).max(5);
    let mut out = format!("{:<7}  {:<id_width$}  FOUND\n", "STATUS", "CHECK");
    for c in checks {
        out.push_str(&format!(
            "{:<7}  {:<id_width$}  {}\n",
            c.status.as_str(),
            c.id,
            c.found
        ));
        if !c.fix.is_empty() && c.status != Status::Pass {
            out.push_str(&format!("{:<7}  {:<id_width$}  fix: {}\n", "", "", c.fix));
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "\n{} passed, {} warnings, {} failed, {} unknown\n",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Unknown)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_follow_their_failed_check() {
        let checks = vec![
            Check::pass("swap", "swap is off"),
            Check::new("port-10250", Status::Fail, "in use by kubelet (pid 7)")
                .fix("kcops setup reset"),
        ];
        let text = render_table(&checks);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "STATUS   CHECK       FOUND");
        assert_eq!(lines[1], "pass     swap        swap is off");
        assert_eq!(lines[2], "fail     port-10250  in use by kubelet (pid 7)");
        assert_eq!(lines[3], "                     fix: kcops setup reset");
        assert_eq!(lines[5], "1 passed, 0 warnings, 1 failed, 0 unknown");
    }
}
