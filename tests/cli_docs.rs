//! `kcops completions <shell>` and `kcops man`: generated from the command-line
//! definition, so they name the flags and subcommands kcops really takes.

use std::process::Command;

fn kcops(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kcops"))
        .args(args)
        .env(
            "KCOPS_LOG_FILE",
            std::env::temp_dir().join("kcops-cli-docs.log"),
        )
        .output()
        .unwrap_or_else(|e| panic!("kcops {args:?}: {e}"));
    assert!(out.status.success(), "kcops {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn completions_for_every_shell_name_the_real_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = kcops(&["completions", shell]);
        for word in ["check", "read-only", "kubeconfig", "completions"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_kcops"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        bad.status.code(),
        Some(64),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_man_page_is_roff_with_the_options_and_subcommands() {
    let page = kcops(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH kcops 1"),
        "{page}"
    );
    assert!(page.contains(".TH kcops 1"), "{page}");
    for word in ["read\\-only", "kubeconfig", "check", "completions"] {
        assert!(page.contains(word), "the man page lacks {word}");
    }
}
