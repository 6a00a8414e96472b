//! `kcops setup join` on the joining machine. For now: the preflight; the discovery
//! check (cluster-info fetched and its signature verified before kubeadm runs) and
//! `kubeadm join` with phase progress come with the cluster side of the setup work.

use super::args::{JoinArgs, SetupGlobals};
use super::preflight::{self, PreflightInput, Role};

pub async fn run(args: &JoinArgs, g: &SetupGlobals) -> anyhow::Result<i32> {
    let mut input = PreflightInput::new(&g.host_root, Role::Join);
    input.cri_socket = args.cri_socket.clone();
    let checks = preflight::run(&input).await;
    print!("{}", preflight::render_table(&checks));
    if args.preflight_only {
        return Ok(if preflight::blocks(&checks) { 1 } else { 0 });
    }
    eprintln!(
        "kcops setup join: checking the discovery (token, CA hash) and running kubeadm join are not implemented yet; run kubeadm join yourself"
    );
    Ok(2)
}
