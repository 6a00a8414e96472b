//! The preflight as a plain-text table for `--preflight-only` and for review before a
//! change window: one row per check, the fix indented under a failed or warned one so
//! the line stays readable in 80 columns.

use super::{Check, Status};

/// `STATUS  CHECK  FOUND` rows with each fix on its own line below, then a summary.
pub fn render_table(checks: &[Check]) -> String {
    render_table_width(checks, WIDTH)
}

/// The width the table is wrapped to: an 80-column SSH session at 3 a.m.
pub const WIDTH: usize = 80;

/// Narrower than this, the FOUND column moves below its check (kubeadm's check ids,
/// such as `DirAvailable--etc-kubernetes-manifests`, are long).
const MIN_TEXT: usize = 40;

/// The table with each check's text wrapped to `width` columns: continuation lines
/// under the FOUND column, or, where the ids leave it too narrow, every check's text
/// on the lines below its row.
pub fn render_table_width(checks: &[Check], width: usize) -> String {
    let id_width = checks.iter().map(|c| c.id.len()).max().unwrap_or(5).max(5);
    let column = 7 + 2 + id_width + 2;
    let below = width.saturating_sub(column) < MIN_TEXT;
    let (indent, text_width) = if below {
        (9, width.saturating_sub(9).max(20))
    } else {
        (column, width - column)
    };
    let mut out = if below {
        format!("{:<7}  CHECK, then what was found\n", "STATUS")
    } else {
        format!("{:<7}  {:<id_width$}  FOUND\n", "STATUS", "CHECK")
    };
    let mut row = |status: &str, id: &str, text: &str| {
        let mut lines = wrap(text, text_width).into_iter();
        if below {
            if !id.is_empty() {
                out.push_str(&format!("{status:<7}  {id}\n"));
            }
        } else if let Some(first) = lines.next() {
            out.push_str(&format!("{status:<7}  {id:<id_width$}  {first}\n"));
        }
        for line in lines {
            out.push_str(&format!("{:indent$}{line}\n", ""));
        }
    };
    for c in checks {
        row(c.status.as_str(), &c.id, &c.found);
        if !c.fix.is_empty() && c.status != Status::Pass {
            row("", "", &format!("fix: {}", c.fix));
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

/// A check's text in lines under its column (a path keeps its line whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    crate::wrap::lines(text, width, false)
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

    #[test]
    fn long_check_ids_put_the_text_below_its_row() {
        let checks = vec![
            Check::new(
                "DirAvailable--etc-kubernetes-manifests",
                Status::Fail,
                "/etc/kubernetes/manifests is not empty (kube-apiserver.yaml)",
            )
            .fix("kcops setup reset"),
        ];
        let text = render_table(&checks);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "fail     DirAvailable--etc-kubernetes-manifests");
        assert_eq!(
            lines[2],
            "         /etc/kubernetes/manifests is not empty (kube-apiserver.yaml)"
        );
        assert_eq!(lines[3], "         fix: kcops setup reset");
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
    }

    #[test]
    fn long_texts_wrap_under_their_column_at_80() {
        let long = "the image repository registry.k8s.io did not answer within 5s: a pull can hang for many minutes";
        let checks = vec![
            Check::new("image-repository", Status::Warn, long)
                .fix("set imageRepository: registry.aliyuncs.com/google_containers"),
        ];
        let text = render_table(&checks);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        let rejoined: Vec<&str> = text
            .lines()
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.get(27..).unwrap_or("").trim())
            .collect();
        assert!(rejoined.join(" ").contains(long), "{text}");
    }
}
