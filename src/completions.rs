//! Shell completions and the man page, generated from the clap definition of the
//! command line, so neither can drift from the flags kcops really takes.

use clap::CommandFactory;

use super::Cli;

/// `kcops completions <shell>`: the completion script on stdout; the exit code.
pub fn print_completions(shell: clap_complete::Shell) -> i32 {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "kcops", &mut std::io::stdout());
    0
}

/// `kcops man`: kcops(1) in roff on stdout; the exit code.
pub fn print_man() -> i32 {
    let page = clap_mangen::Man::new(Cli::command());
    match page.render(&mut std::io::stdout()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kcops: cannot write the man page: {e}");
            1
        }
    }
}
