//! The `:` commands: one table of name, aliases, arguments, help and handler. The
//! panes declare the commands that show them ([`super::panes::Pane::commands`]); the
//! rest are here. The same table parses what is typed, writes the hint after an
//! unknown command and the command list of the help, so none of them can drift.

use super::app::App;
use super::panes::{Pane, PaneId};

/// One `:` command.
#[derive(Debug)]
pub(crate) struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// What it does, for the command list.
    pub help: &'static str,
    /// Listed in the hint after an unknown command (the ones most often reached for).
    pub hinted: bool,
    pub run: Run,
}

/// What a command does.
#[derive(Debug)]
pub(crate) enum Run {
    /// Shows `pane`, which picks its sub-view from the command's name first
    /// ([`Pane::open`]); the argument, if `namespaced`, chooses the namespace
    /// (`all` or `-A`: every namespace).
    Show { pane: PaneId, namespaced: bool },
    /// Anything else: `handler` with the argument, `args` naming it for the hint and
    /// help (`""`: takes none).
    App {
        args: &'static str,
        handler: fn(&mut App, Option<&str>),
    },
}

impl Command {
    /// A command that shows `pane`, listed in the hint after an unknown command.
    pub(crate) const fn show(
        pane: PaneId,
        name: &'static str,
        aliases: &'static [&'static str],
        help: &'static str,
    ) -> Command {
        Command {
            name,
            aliases,
            help,
            hinted: true,
            run: Run::Show {
                pane,
                namespaced: false,
            },
        }
    }

    /// Its argument chooses the namespace (`all` or `-A`: every namespace).
    pub(crate) const fn namespaced(mut self) -> Command {
        if let Run::Show { pane, .. } = self.run {
            self.run = Run::Show {
                pane,
                namespaced: true,
            };
        }
        self
    }

    /// Left out of the hint after an unknown command.
    pub(crate) const fn unhinted(mut self) -> Command {
        self.hinted = false;
        self
    }

    /// The argument it takes, as help writes it (`""`: none).
    pub(crate) fn args(&self) -> &'static str {
        match self.run {
            Run::Show {
                namespaced: true, ..
            } => "[ns]",
            Run::Show { .. } => "",
            Run::App { args, .. } => args,
        }
    }

    fn answers_to(&self, word: &str) -> bool {
        self.name == word || self.aliases.contains(&word)
    }

    /// `:name args`, as typed.
    fn usage(&self) -> String {
        match self.args() {
            "" => format!(":{}", self.name),
            args => format!(":{} {args}", self.name),
        }
    }
}

/// The commands that show no pane of their own, listed after the panes' ones.
const APP_COMMANDS: &[Command] = &[
    // The kinds people look at while triaging, in the resource browser (any other
    // kind the API server lists: `:<kind>`).
    Command {
        name: "svc",
        aliases: &["services"],
        help: "Services, as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("svc", arg),
        },
    },
    Command {
        name: "ep",
        aliases: &["endpoints"],
        help: "Endpoints, as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("ep", arg),
        },
    },
    Command {
        name: "endpointslices",
        aliases: &[],
        help: "EndpointSlices, as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("endpointslices", arg),
        },
    },
    Command {
        name: "cm",
        aliases: &["configmaps"],
        help: "ConfigMaps, as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("cm", arg),
        },
    },
    Command {
        name: "secrets",
        aliases: &["secret"],
        help: "Secrets (values masked until x), as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("secrets", arg),
        },
    },
    Command {
        name: "jobs",
        aliases: &["job"],
        help: "Jobs, as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("jobs", arg),
        },
    },
    Command {
        name: "cj",
        aliases: &["cronjobs"],
        help: "CronJobs, as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("cj", arg),
        },
    },
    Command {
        name: "ing",
        aliases: &["ingresses"],
        help: "Ingresses, as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("ing", arg),
        },
    },
    Command {
        name: "rs",
        aliases: &["replicasets"],
        help: "ReplicaSets, as kubectl lists them",
        hinted: false,
        run: Run::App {
            args: "[ns]",
            handler: |app, arg| app.browse("rs", arg),
        },
    },
    Command {
        name: "release-ips",
        aliases: &[],
        help: "release a node's leaked pod IP reservations (a plan to confirm; another node's after :probe-host)",
        hinted: true,
        run: Run::App {
            args: "[node] [network]",
            handler: |app, arg| app.release_leaked(arg),
        },
    },
    Command {
        name: "probe-host",
        aliases: &[],
        help: "read a node's pod-network files and sandboxes through a short-lived debug pod (a plan to confirm)",
        hinted: false,
        run: Run::App {
            args: "[node]",
            handler: |app, arg| app.probe_host(arg),
        },
    },
    Command {
        name: "unlock",
        aliases: &[],
        help: "remove a stale RBD lock (wizard); without an argument, of the selection",
        hinted: true,
        run: Run::App {
            args: "[ns/pod | pool/image]",
            handler: |app, arg| app.open_unlock(arg),
        },
    },
    Command {
        name: "scale",
        aliases: &[],
        help: "scale a StatefulSet or Deployment; an etcd ensemble's members change with it (wizard)",
        hinted: false,
        run: Run::App {
            args: "[ns/]name N",
            handler: |app, arg| app.scale_command(arg),
        },
    },
    Command {
        name: "etcd-join-template",
        aliases: &[],
        help: "change an etcd StatefulSet's start so new members join the running cluster, restarting members one at a time (wizard)",
        hinted: false,
        run: Run::App {
            args: "[ns/]name",
            handler: |app, arg| app.offer_join_template(arg),
        },
    },
    Command {
        name: "join",
        aliases: &[],
        help: "prepare a join for a new machine (bootstrap token, CA hash, the kubeadm join command) and follow its node until Ready (wizard)",
        hinted: false,
        run: Run::App {
            args: "",
            handler: |app, _| app.open_join(),
        },
    },
    Command {
        name: "reset-node",
        aliases: &[],
        help: "take a machine out of the cluster: drain through the eviction API (disruption budgets honoured), delete the node, then the commands that reset it (wizard)",
        hinted: false,
        run: Run::App {
            args: "node",
            handler: |app, arg| app.open_reset_node(arg),
        },
    },
    Command {
        name: "renew-certs",
        aliases: &[],
        help: "the control plane's certificates on this machine (kubeadm certs check-expiration) and how to renew them (wizard)",
        hinted: false,
        run: Run::App {
            args: "",
            handler: |app, _| app.offer_renew_certs(),
        },
    },
    Command {
        name: "restart-cni",
        aliases: &[],
        help: "restart the pod network agent of a node (wizard)",
        hinted: true,
        run: Run::App {
            args: "[node]",
            handler: |app, arg| app.offer_restart_cni(arg),
        },
    },
    Command {
        name: "set-cluster-cidr",
        aliases: &[],
        help: "change the cluster's pod network range (wizard)",
        hinted: true,
        run: Run::App {
            args: "[cidr]",
            handler: |app, arg| app.offer_set_cluster_cidr(arg),
        },
    },
    Command {
        name: "ack-interrupted",
        aliases: &[],
        help: "acknowledge the plans the audit journal shows interrupted (audit.interrupted)",
        hinted: false,
        run: Run::App {
            args: "",
            handler: |app, _| app.ack_interrupted(),
        },
    },
    Command {
        name: "top",
        aliases: &[],
        help: "the pods' CPU and memory from metrics.k8s.io (where a metrics-server serves it)",
        hinted: false,
        run: Run::App {
            args: "",
            handler: |app, _| app.top(),
        },
    },
    Command {
        name: "port-forward",
        aliases: &["pf"],
        help: "forward a local port to the selected pod's PORT (kubectl port-forward, in the background) where the API server offers it",
        hinted: false,
        run: Run::App {
            args: "PORT",
            handler: |app, arg| app.port_forward(arg),
        },
    },
    Command {
        name: "ctx",
        aliases: &["context"],
        help: "switch to another kubeconfig context (every source reconnects); without a name, the list",
        hinted: true,
        run: Run::App {
            args: "[name]",
            handler: |app, arg| app.switch_context(arg),
        },
    },
    Command {
        name: "ns",
        aliases: &["namespace"],
        help: "show one namespace (all or -A: every namespace); without a name, pick from the list",
        hinted: true,
        run: Run::App {
            args: "<name>",
            handler: |app, arg| match arg {
                Some(name) => app.set_namespace(Some(name)),
                None => app.pick_namespace(),
            },
        },
    },
    Command {
        name: "q",
        aliases: &["quit"],
        help: "leave the console",
        hinted: true,
        run: Run::App {
            args: "",
            handler: |app, _| app.quit = true,
        },
    },
    Command {
        name: "messages",
        aliases: &["msg"],
        help: "what the status line said, and problems in the config files",
        hinted: false,
        run: Run::App {
            args: "",
            handler: |app, _| app.show_messages(),
        },
    },
    Command {
        name: "help",
        aliases: &["h"],
        help: "this list",
        hinted: true,
        run: Run::App {
            args: "",
            handler: |app, _| app.show_commands(),
        },
    },
];

/// Every command: the panes' (in pane order), then the others.
pub(crate) fn table(panes: &[Box<dyn Pane>]) -> Vec<&'static Command> {
    panes
        .iter()
        .flat_map(|p| p.commands())
        .chain(APP_COMMANDS)
        .collect()
}

/// The command `text` (`pods kube-system`, without the colon) calls and its
/// argument (the second word; more are ignored), or the unknown first word.
pub(crate) fn parse<'t>(
    table: &[&'static Command],
    text: &'t str,
) -> Result<(&'static Command, Option<&'t str>), &'t str> {
    let mut words = text.split_whitespace();
    let word = words.next().unwrap_or_default();
    let command = table.iter().find(|c| c.answers_to(word)).ok_or(word)?;
    Ok((command, words.next()))
}

/// What the status line says after an unknown command.
pub(crate) fn unknown(table: &[&'static Command], word: &str) -> String {
    let hint: Vec<String> = table
        .iter()
        .filter(|c| c.hinted)
        .map(|c| c.usage())
        .collect();
    format!("unknown command :{word} (try {})", hint.join(", "))
}

/// Every command for the help: usage with its aliases, and what it does.
pub(crate) fn help(table: &[&'static Command]) -> Vec<(String, &'static str)> {
    table
        .iter()
        .map(|c| {
            let mut usage = c.usage();
            for alias in c.aliases {
                usage.push_str(&format!(", :{alias}"));
            }
            (usage, c.help)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::panes;

    fn commands() -> Vec<&'static Command> {
        table(&panes::all())
    }

    fn parsed(text: &str) -> Option<(&'static str, Option<&str>)> {
        parse(&commands(), text).ok().map(|(c, arg)| (c.name, arg))
    }

    #[test]
    fn names_and_aliases_find_the_same_command() {
        assert_eq!(parsed("pods"), Some(("pods", None)));
        assert_eq!(parsed("po"), Some(("pods", None)));
        assert_eq!(parsed("pod"), Some(("pods", None)));
        assert_eq!(parsed("no"), Some(("nodes", None)));
        assert_eq!(parsed("pvcs"), Some(("pvc", None)));
        assert_eq!(parsed("storageclasses"), Some(("sc", None)));
        assert_eq!(parsed("deployments"), Some(("deploy", None)));
        assert_eq!(parsed("images"), Some(("rbd", None)));
        assert_eq!(parsed("quit"), Some(("q", None)));
        assert_eq!(parsed("namespace"), Some(("ns", None)));
        assert_eq!(parsed("o"), Some(("overview", None)));
    }

    #[test]
    fn the_second_word_is_the_argument_and_more_are_ignored() {
        assert_eq!(
            parsed("pods kube-system"),
            Some(("pods", Some("kube-system")))
        );
        assert_eq!(parsed("  ns   demo  extra"), Some(("ns", Some("demo"))));
        assert_eq!(
            parsed("unlock rbd/csi-vol-1"),
            Some(("unlock", Some("rbd/csi-vol-1")))
        );
    }

    #[test]
    fn an_unknown_command_is_returned_with_a_hint_from_the_table() {
        let table = commands();
        assert_eq!(parse(&table, "podz x").err(), Some("podz"));
        assert_eq!(parse(&table, "").err(), Some(""), "a bare colon");
        let hint = unknown(&table, "podz");
        assert!(hint.starts_with("unknown command :podz (try :nodes, :pods [ns], :pvc [ns]"));
        assert!(hint.ends_with(":ns <name>, :q, :help)"), "{hint}");
        for c in &table {
            assert_eq!(
                hint.contains(&format!(":{}", c.name)),
                c.hinted,
                ":{} in the hint",
                c.name
            );
        }
    }

    #[test]
    fn no_word_means_two_commands() {
        let table = commands();
        let mut words: Vec<&str> = table
            .iter()
            .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
            .collect();
        let n = words.len();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), n, "a name or alias is used twice");
    }

    #[test]
    fn help_lists_every_command_with_its_aliases_and_arguments() {
        let table = commands();
        let help = help(&table);
        assert_eq!(help.len(), table.len());
        assert!(help.contains(&(
            ":pods [ns], :pod, :po".to_string(),
            "the pods (in namespace ns)"
        )));
        assert!(help.contains(&(":q, :quit".to_string(), "leave the console")));
        assert!(
            help.iter()
                .any(|(usage, _)| usage == ":unlock [ns/pod | pool/image]")
        );
    }
}
